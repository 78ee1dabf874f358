"""Generate ``envs/sql/tasks.jsonl``: questions about the shop database with verified answers.

Each question comes with a reference query; the expected answer is whatever that query returns on
the database built for ``--seed`` (default 0), run through the same read-only sandbox the agent
uses.  Entities named in questions (a customer, an employee, a product…) are picked by
deterministic queries, so the file is a pure function of the seed and :data:`SCHEMA_VERSION`.

Questions that rank things ("which … the most", "the top 3 …") declare ``top=k``; the generator
re-runs them with ``LIMIT k+1`` and refuses to write a task whose answer depends on a tie.

    python -m envgym.envs.sql.make_tasks            # rewrite envs/sql/tasks.jsonl
    python -m envgym.envs.sql.make_tasks --check    # exit 1 if the file is not what the generator makes
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envgym import Golden, RewardSpec, Task, save_tasks
from envgym.envs.sql.database import SCHEMA_VERSION, ensure_database
from envgym.envs.sql.sandbox import ReadOnlyDatabase
from envgym.envs.sql.scoring import expected_from_rows, format_expected

ENV_ID = "envgym/SQL-v0"
TASK_FILE = Path(__file__).with_name("tasks.jsonl")
LINE_VALUE = "oi.quantity * oi.unit_price * (1 - oi.discount)"


@dataclass
class Question:
    slug: str
    difficulty: str  # easy | medium | hard
    question: str
    sql: str
    answer_type: str = "number"  # number | text | list
    top: int | None = None  # ranking question: the answer is the first ``top`` rows; checked for ties
    ordered: bool = False  # list answers: order matters
    decimals: int | None = None  # the question asks for rounding: tolerance of one unit in the last place
    skills: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _pick(db: ReadOnlyDatabase, sql: str) -> tuple:
    rows = db.run(sql).rows
    if not rows:
        raise RuntimeError(f"entity query returned nothing: {sql}")
    return rows[0]


def questions(db: ReadOnlyDatabase) -> list[Question]:
    """The question list, with entity names filled in from ``db``."""
    cust_id, cust_name = _pick(db, (
        "SELECT c.customer_id, c.first_name || ' ' || c.last_name FROM customers c "
        "WHERE (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.customer_id) BETWEEN 6 AND 9 "
        "ORDER BY c.customer_id LIMIT 1"
    ))
    email_name, = _pick(db, "SELECT first_name || ' ' || last_name FROM customers WHERE customer_id = 37")
    emp_id, emp_name = _pick(db, (
        "SELECT employee_id, first_name || ' ' || last_name FROM employees "
        "WHERE department_id = (SELECT department_id FROM departments WHERE name = 'Marketing') "
        "AND manager_id IS NOT NULL AND title NOT LIKE 'Head%' ORDER BY employee_id LIMIT 1"
    ))
    hire_name, = _pick(db, "SELECT first_name || ' ' || last_name FROM employees WHERE employee_id = 40")
    head_name, = _pick(db, (
        "SELECT e.first_name || ' ' || e.last_name FROM employees e JOIN departments d USING (department_id) "
        "WHERE d.name = 'Engineering' AND e.manager_id = (SELECT employee_id FROM employees WHERE manager_id IS NULL)"
    ))
    product_name, = _pick(db, (
        "SELECT p.name FROM products p JOIN order_items oi USING (product_id) "
        "WHERE p.category = 'Toys' GROUP BY p.product_id HAVING COUNT(*) >= 10 ORDER BY p.product_id LIMIT 1"
    ))
    supplier_name, = _pick(db, "SELECT name FROM suppliers ORDER BY supplier_id LIMIT 1 OFFSET 4")

    q = _quote
    full = "e.first_name || ' ' || e.last_name"
    return [
        # ------------------------------------------------------------------ easy: one table
        Question("customers-total", "easy", "How many customers are there in the database?",
                 "SELECT COUNT(*) FROM customers", skills=("count",)),
        Question("customers-germany", "easy", "How many customers are based in Germany?",
                 "SELECT COUNT(*) FROM customers WHERE country = 'Germany'", skills=("filter",)),
        Question("customers-london", "easy", "How many customers live in London?",
                 "SELECT COUNT(*) FROM customers WHERE city = 'London'", skills=("filter",)),
        Question("customers-corporate", "easy", "How many customers belong to the Corporate segment?",
                 "SELECT COUNT(*) FROM customers WHERE segment = 'Corporate'", skills=("filter",)),
        Question("products-discontinued", "easy", "How many products are discontinued?",
                 "SELECT COUNT(*) FROM products WHERE discontinued = 1", skills=("filter",)),
        Question("orders-cancelled", "easy", "How many orders have the status 'cancelled'?",
                 "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'", skills=("filter",)),
        Question("payments-paypal", "easy", "How many payments were made with PayPal?",
                 "SELECT COUNT(*) FROM payments WHERE method = 'paypal'", skills=("filter",)),
        Question("products-over-100", "easy", "How many products have a unit price greater than 100 dollars?",
                 "SELECT COUNT(*) FROM products WHERE unit_price > 100", skills=("filter",)),
        Question("countries-distinct", "easy", "From how many different countries do the customers come?",
                 "SELECT COUNT(DISTINCT country) FROM customers", skills=("distinct",)),
        Question("orders-2023", "easy", "How many orders were placed in 2023?",
                 "SELECT COUNT(*) FROM orders WHERE order_date BETWEEN '2023-01-01' AND '2023-12-31'",
                 skills=("date-range",)),
        Question("signups-2024", "easy", "How many customers signed up during 2024?",
                 "SELECT COUNT(*) FROM customers WHERE signup_date LIKE '2024-%'", skills=("date-range",)),
        Question("salary-max", "easy", "What is the highest salary paid to any employee?",
                 "SELECT MAX(salary) FROM employees", skills=("aggregate",)),
        Question("salary-avg", "easy", "What is the average salary of all employees? Round to 2 decimal places.",
                 "SELECT ROUND(AVG(salary), 2) FROM employees", decimals=2, skills=("aggregate",)),
        Question("stock-electronics", "easy", "What is the total stock quantity of all products in the Electronics category?",
                 "SELECT SUM(stock_quantity) FROM products WHERE category = 'Electronics'", skills=("aggregate",)),
        Question("product-most-expensive", "easy", "What is the name of the product with the highest unit price?",
                 "SELECT name, unit_price FROM products ORDER BY unit_price DESC LIMIT 1",
                 answer_type="text", top=1, skills=("top-k",)),
        Question("product-cheapest-active", "easy",
                 "What is the name of the cheapest product that is not discontinued?",
                 "SELECT name, unit_price FROM products WHERE discontinued = 0 ORDER BY unit_price ASC LIMIT 1",
                 answer_type="text", top=1, skills=("top-k", "filter")),
        Question("department-largest-budget", "easy", "Which department has the largest budget?",
                 "SELECT name, budget FROM departments ORDER BY budget DESC LIMIT 1",
                 answer_type="text", top=1, skills=("top-k",)),
        Question("customer-email", "easy", f"What is the email address of the customer {email_name}?",
                 f"SELECT email FROM customers WHERE first_name || ' ' || last_name = {q(email_name)}",
                 answer_type="text", skills=("lookup",)),
        Question("employee-hire-date", "easy", f"On what date was {hire_name} hired? Answer in the form YYYY-MM-DD.",
                 f"SELECT hire_date FROM employees WHERE first_name || ' ' || last_name = {q(hire_name)}",
                 answer_type="text", skills=("lookup",)),
        Question("supplier-countries", "easy", "In which countries are the suppliers based? List each country once.",
                 "SELECT DISTINCT country FROM suppliers ORDER BY country", answer_type="list",
                 skills=("distinct",)),
        Question("ceo", "easy", "Which employee has no manager? Give their full name.",
                 "SELECT first_name || ' ' || last_name FROM employees WHERE manager_id IS NULL",
                 answer_type="text", skills=("null",)),
        # ------------------------------------------------------------------ medium: joins, group by
        Question("sales-headcount", "medium", "How many employees work in the Sales department?",
                 "SELECT COUNT(*) FROM employees e JOIN departments d ON d.department_id = e.department_id "
                 "WHERE d.name = 'Sales'", skills=("join",)),
        Question("engineering-payroll", "medium", "What is the total annual salary of everyone in the Engineering department?",
                 "SELECT SUM(e.salary) FROM employees e JOIN departments d ON d.department_id = e.department_id "
                 "WHERE d.name = 'Engineering'", skills=("join", "aggregate")),
        Question("customer-order-count", "medium", f"How many orders has the customer {cust_name} placed?",
                 f"SELECT COUNT(*) FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
                 f"WHERE c.first_name || ' ' || c.last_name = {q(cust_name)}", skills=("join",)),
        Question("departments-new-york", "medium", "List the names of all departments located in New York.",
                 "SELECT name FROM departments WHERE location = 'New York' ORDER BY name", answer_type="list",
                 skills=("filter", "list")),
        Question("country-most-customers", "medium", "Which country has the most customers?",
                 "SELECT country, COUNT(*) AS n FROM customers GROUP BY country ORDER BY n DESC LIMIT 1",
                 answer_type="text", top=1, skills=("group-by", "top-k")),
        Question("rep-most-orders", "medium", "Which employee handled the most orders? Give their full name.",
                 f"SELECT {full}, COUNT(*) AS n FROM orders o JOIN employees e ON e.employee_id = o.employee_id "
                 "GROUP BY e.employee_id ORDER BY n DESC LIMIT 1", answer_type="text", top=1,
                 skills=("join", "group-by", "top-k")),
        Question("credit-card-2024", "medium",
                 "What was the total amount paid by credit card in 2024 (by payment date)? Round to 2 decimal places.",
                 "SELECT ROUND(SUM(amount), 2) FROM payments WHERE method = 'credit_card' "
                 "AND payment_date BETWEEN '2024-01-01' AND '2024-12-31'", decimals=2,
                 skills=("date-range", "aggregate")),
        Question("orders-with-books", "medium", "How many different orders contain at least one product from the Books category?",
                 "SELECT COUNT(DISTINCT oi.order_id) FROM order_items oi JOIN products p ON p.product_id = oi.product_id "
                 "WHERE p.category = 'Books'", skills=("join", "distinct")),
        Question("hired-before-2018", "medium", "How many employees were hired before January 1, 2018?",
                 "SELECT COUNT(*) FROM employees WHERE hire_date < '2018-01-01'", skills=("date-range",)),
        Question("busiest-month-2023", "medium", "In which month of 2023 were the most orders placed? Answer as YYYY-MM.",
                 "SELECT strftime('%Y-%m', order_date) AS month, COUNT(*) AS n FROM orders "
                 "WHERE order_date LIKE '2023-%' GROUP BY month ORDER BY n DESC LIMIT 1",
                 answer_type="text", top=1, skills=("date-range", "group-by", "top-k")),
        Question("customers-without-orders", "medium", "How many customers have never placed an order?",
                 "SELECT COUNT(*) FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)",
                 skills=("subquery",)),
        Question("manager-of-employee", "medium", f"Who is the direct manager of {emp_name}? Give their full name.",
                 "SELECT m.first_name || ' ' || m.last_name FROM employees e JOIN employees m "
                 f"ON m.employee_id = e.manager_id WHERE {full} = {q(emp_name)}",
                 answer_type="text", skills=("self-join",)),
        Question("direct-reports", "medium", f"How many employees report directly to {head_name}?",
                 "SELECT COUNT(*) FROM employees WHERE manager_id = (SELECT employee_id FROM employees e "
                 f"WHERE {full} = {q(head_name)})", skills=("self-join", "subquery")),
        Question("departments-over-5", "medium", "Which departments have more than 5 employees? List their names.",
                 "SELECT d.name FROM departments d JOIN employees e ON e.department_id = d.department_id "
                 "GROUP BY d.department_id HAVING COUNT(*) > 5 ORDER BY d.name", answer_type="list",
                 skills=("group-by", "having", "list")),
        Question("lines-per-order", "medium",
                 "On average, how many order lines (rows of order_items) does an order have? Round to 2 decimal places.",
                 "SELECT ROUND(CAST(COUNT(*) AS REAL) / (SELECT COUNT(*) FROM orders), 2) FROM order_items",
                 decimals=2, skills=("aggregate", "subquery")),
        Question("product-units-sold", "medium",
                 f"How many units of the product '{product_name}' have been ordered in total (all orders, any status)?",
                 "SELECT SUM(oi.quantity) FROM order_items oi JOIN products p ON p.product_id = oi.product_id "
                 f"WHERE p.name = {q(product_name)}", skills=("join", "aggregate")),
        Question("category-most-units", "medium",
                 "Which product category has the largest total quantity ordered (over all order lines)?",
                 "SELECT p.category, SUM(oi.quantity) AS units FROM order_items oi JOIN products p "
                 "ON p.product_id = oi.product_id GROUP BY p.category ORDER BY units DESC LIMIT 1",
                 answer_type="text", top=1, skills=("join", "group-by", "top-k")),
        Question("orders-q1-2024", "medium", "How many orders were placed in the first quarter of 2024 (January to March)?",
                 "SELECT COUNT(*) FROM orders WHERE order_date >= '2024-01-01' AND order_date < '2024-04-01'",
                 skills=("date-range",)),
        Question("returned-share", "medium",
                 "What percentage of all orders have the status 'returned'? Round to 1 decimal place.",
                 "SELECT ROUND(100.0 * SUM(status = 'returned') / COUNT(*), 1) FROM orders", decimals=1,
                 skills=("aggregate",)),
        Question("largest-margin-product", "medium",
                 "Which product has the largest difference between its unit price and its unit cost?",
                 "SELECT name, unit_price - unit_cost AS margin FROM products ORDER BY margin DESC LIMIT 1",
                 answer_type="text", top=1, skills=("expression", "top-k")),
        Question("method-highest-avg", "medium", "Which payment method has the highest average payment amount? Answer with the method as stored.",
                 "SELECT method, AVG(amount) AS a FROM payments GROUP BY method ORDER BY a DESC LIMIT 1",
                 answer_type="text", top=1, skills=("group-by", "top-k")),
        Question("unpaid-open-orders", "medium",
                 "How many orders that are not cancelled have no payment at all?",
                 "SELECT COUNT(*) FROM orders o WHERE o.status <> 'cancelled' "
                 "AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.order_id)",
                 skills=("subquery", "not-exists")),
        # ------------------------------------------------------------------ hard: multi-step
        Question("delivered-revenue", "hard",
                 "What is the total revenue from delivered orders, where the revenue of an order line is "
                 "quantity * unit_price * (1 - discount)? Round to 2 decimal places.",
                 f"SELECT ROUND(SUM({LINE_VALUE}), 2) FROM order_items oi JOIN orders o ON o.order_id = oi.order_id "
                 "WHERE o.status = 'delivered'", decimals=2, skills=("join", "expression", "aggregate")),
        Question("top3-products-units", "hard",
                 "Which 3 products have the largest total quantity ordered (over all order lines)? "
                 "List their names from highest to lowest.",
                 "SELECT p.name, SUM(oi.quantity) AS units FROM order_items oi JOIN products p "
                 "ON p.product_id = oi.product_id GROUP BY p.product_id ORDER BY units DESC LIMIT 3",
                 answer_type="list", top=3, ordered=True, skills=("join", "group-by", "top-k")),
        Question("top5-customers-paid", "hard",
                 "Which 5 customers have paid the most in total (sum of their payments)? "
                 "List their full names from highest to lowest total.",
                 "SELECT c.first_name || ' ' || c.last_name, SUM(p.amount) AS paid FROM payments p "
                 "JOIN orders o ON o.order_id = p.order_id JOIN customers c ON c.customer_id = o.customer_id "
                 "GROUP BY c.customer_id ORDER BY paid DESC LIMIT 5",
                 answer_type="list", top=5, ordered=True, skills=("join", "group-by", "top-k")),
        Question("above-department-average", "hard",
                 "How many employees earn more than the average salary of their own department?",
                 "SELECT COUNT(*) FROM employees e WHERE e.salary > "
                 "(SELECT AVG(x.salary) FROM employees x WHERE x.department_id = e.department_id)",
                 skills=("correlated-subquery",)),
        Question("orders-over-1000", "hard",
                 "How many orders have a total value above 1000, where an order's value is the sum of "
                 "quantity * unit_price * (1 - discount) over its lines?",
                 f"SELECT COUNT(*) FROM (SELECT oi.order_id FROM order_items oi GROUP BY oi.order_id "
                 f"HAVING SUM({LINE_VALUE}) > 1000)", skills=("group-by", "having", "subquery")),
        Question("segment-most-revenue", "hard",
                 "Which customer segment generated the most revenue from delivered orders "
                 "(revenue of a line = quantity * unit_price * (1 - discount))?",
                 f"SELECT c.segment, SUM({LINE_VALUE}) AS revenue FROM order_items oi "
                 "JOIN orders o ON o.order_id = oi.order_id JOIN customers c ON c.customer_id = o.customer_id "
                 "WHERE o.status = 'delivered' GROUP BY c.segment ORDER BY revenue DESC LIMIT 1",
                 answer_type="text", top=1, skills=("join", "group-by", "top-k")),
        Question("customers-every-year", "hard",
                 "How many customers placed at least one order in each of the years 2022, 2023 and 2024?",
                 "SELECT COUNT(*) FROM (SELECT customer_id FROM orders GROUP BY customer_id "
                 "HAVING COUNT(DISTINCT substr(order_date, 1, 4)) = 3)", skills=("group-by", "having")),
        Question("supplier-customers", "hard",
                 f"How many different customers have ordered at least one product supplied by {supplier_name}?",
                 "SELECT COUNT(DISTINCT o.customer_id) FROM orders o JOIN order_items oi ON oi.order_id = o.order_id "
                 "JOIN products p ON p.product_id = oi.product_id JOIN suppliers s ON s.supplier_id = p.supplier_id "
                 f"WHERE s.name = {q(supplier_name)}", skills=("join", "distinct")),
        Question("second-salary-engineering", "hard",
                 "What is the second-highest distinct salary in the Engineering department?",
                 "SELECT DISTINCT e.salary FROM employees e JOIN departments d ON d.department_id = e.department_id "
                 "WHERE d.name = 'Engineering' ORDER BY e.salary DESC LIMIT 1 OFFSET 1", skills=("join", "offset")),
        Question("days-to-first-payment", "hard",
                 "On average, how many days pass between an order's date and its first payment (over orders "
                 "that have a payment)? Round to 2 decimal places.",
                 "SELECT ROUND(AVG(julianday(first_paid) - julianday(o.order_date)), 2) FROM orders o JOIN "
                 "(SELECT order_id, MIN(payment_date) AS first_paid FROM payments GROUP BY order_id) p "
                 "ON p.order_id = o.order_id", decimals=2, skills=("date-arithmetic", "subquery")),
        Question("rep-top-revenue-2024", "hard",
                 "Which sales rep generated the most revenue from delivered orders placed in 2024 "
                 "(revenue of a line = quantity * unit_price * (1 - discount))? Give their full name.",
                 f"SELECT {full}, SUM({LINE_VALUE}) AS revenue FROM order_items oi "
                 "JOIN orders o ON o.order_id = oi.order_id JOIN employees e ON e.employee_id = o.employee_id "
                 "WHERE o.status = 'delivered' AND o.order_date LIKE '2024-%' "
                 "GROUP BY e.employee_id ORDER BY revenue DESC LIMIT 1",
                 answer_type="text", top=1, skills=("join", "group-by", "date-range", "top-k")),
        Question("longest-tenure-engineering", "hard",
                 "Who has been employed the longest (earliest hire date) among the Engineering department? "
                 "Give their full name.",
                 f"SELECT {full}, e.hire_date FROM employees e JOIN departments d ON d.department_id = e.department_id "
                 "WHERE d.name = 'Engineering' ORDER BY e.hire_date ASC LIMIT 1",
                 answer_type="text", top=1, skills=("join", "top-k")),
        Question("discount-2023", "hard",
                 "What was the total discount granted on orders placed in 2023 (any status), where the discount "
                 "of a line is quantity * unit_price * discount? Round to 2 decimal places.",
                 "SELECT ROUND(SUM(oi.quantity * oi.unit_price * oi.discount), 2) FROM order_items oi "
                 "JOIN orders o ON o.order_id = oi.order_id WHERE o.order_date LIKE '2023-%'",
                 decimals=2, skills=("join", "expression", "date-range")),
        Question("top3-categories-revenue-2024", "hard",
                 "Which 3 product categories earned the most revenue from delivered orders placed in 2024 "
                 "(revenue of a line = quantity * unit_price * (1 - discount))? List them from highest to lowest.",
                 f"SELECT p.category, SUM({LINE_VALUE}) AS revenue FROM order_items oi "
                 "JOIN orders o ON o.order_id = oi.order_id JOIN products p ON p.product_id = oi.product_id "
                 "WHERE o.status = 'delivered' AND o.order_date LIKE '2024-%' "
                 "GROUP BY p.category ORDER BY revenue DESC LIMIT 3",
                 answer_type="list", top=3, ordered=True, skills=("join", "group-by", "top-k")),
        Question("ship-country-avg-order", "hard",
                 "Which shipping country has the highest average order value over delivered orders "
                 "(order value = sum of quantity * unit_price * (1 - discount) over its lines)?",
                 "SELECT ship_country, AVG(value) AS avg_value FROM (SELECT o.order_id, o.ship_country, "
                 f"SUM({LINE_VALUE}) AS value FROM orders o JOIN order_items oi ON oi.order_id = o.order_id "
                 "WHERE o.status = 'delivered' GROUP BY o.order_id) GROUP BY ship_country "
                 "ORDER BY avg_value DESC LIMIT 1", answer_type="text", top=1,
                 skills=("subquery", "group-by", "top-k")),
        Question("best-revenue-year", "hard",
                 "In which year was the revenue from delivered orders highest "
                 "(revenue of a line = quantity * unit_price * (1 - discount))? Answer with the year.",
                 f"SELECT CAST(substr(o.order_date, 1, 4) AS INTEGER) AS year, SUM({LINE_VALUE}) AS revenue "
                 "FROM order_items oi JOIN orders o ON o.order_id = oi.order_id WHERE o.status = 'delivered' "
                 "GROUP BY year ORDER BY revenue DESC LIMIT 1", top=1, skills=("group-by", "date-range", "top-k")),
    ]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _check_no_tie(db: ReadOnlyDatabase, question: Question) -> None:
    """A ranking question must not depend on how ties are broken: re-run with ``LIMIT k+1`` and
    require the sort key (last column) to differ between positions k and k+1 (and, for ordered
    lists, within the first k)."""
    k = question.top
    assert k is not None
    suffix = f"LIMIT {k}"
    if not question.sql.endswith(suffix):
        raise ValueError(f"{question.slug}: a top-{k} question's SQL must end with {suffix!r}")
    rows = db.run(question.sql[: -len(suffix)] + f"LIMIT {k + 1}").rows
    keys = [row[-1] for row in rows]
    if len(keys) > k and keys[k - 1] == keys[k]:
        raise ValueError(f"{question.slug}: tie at position {k}: {rows}")
    if question.ordered and len(set(keys[:k])) < k:
        raise ValueError(f"{question.slug}: ties inside the ordered top {k}: {rows}")


def build_tasks(seed: int = 0, db_dir: str | Path | None = None) -> list[Task]:
    """Every task, with answers computed on the database for ``seed``."""
    path = ensure_database(seed, db_dir)
    db = ReadOnlyDatabase(path, timeout_s=30.0, max_rows=1000)
    try:
        tasks = []
        seen: set[str] = set()
        for question in questions(db):
            if question.slug in seen:
                raise ValueError(f"duplicate slug {question.slug!r}")
            seen.add(question.slug)
            if question.top is not None:
                _check_no_tie(db, question)
            result = db.run(question.sql)
            if result.more_rows:
                raise ValueError(f"{question.slug}: the reference query returns too many rows")
            if question.answer_type != "list" and len(result.rows) != 1:
                raise ValueError(f"{question.slug}: expected one row, got {len(result.rows)}")
            expected = expected_from_rows(result.rows, question.answer_type)
            if question.answer_type == "list" and question.top is not None and len(expected) != question.top:
                raise ValueError(f"{question.slug}: expected {question.top} items, got {expected}")
            text = format_expected(expected, question.answer_type)
            params: dict[str, Any] = {
                "reference_sql": question.sql,
                "answer_type": question.answer_type,
                "expected": expected,
            }
            if question.answer_type == "list":
                params["ordered"] = question.ordered
            if question.decimals is not None:
                params["abs_tol"] = round(1.01 * 10 ** -question.decimals, question.decimals + 3)
            params.update(question.extra)
            tasks.append(Task(
                task_id=f"sql-{question.slug}",
                env_id=ENV_ID,
                instruction=question.question,
                spec={"difficulty": question.difficulty, "db_seed": seed, "skills": list(question.skills)},
                golden=Golden(
                    actions=[
                        {"name": "sql", "arguments": {"query": question.sql}},
                        {"name": "answer", "arguments": {"text": text}},
                    ],
                    answer=text,
                ),
                reward=RewardSpec(kind="env", params=params),
                provenance={"source": "envs/sql/make_tasks.py", "schema_version": SCHEMA_VERSION},
            ))
        return tasks
    finally:
        db.close()


def render(tasks: list[Task]) -> str:
    return "".join(task.model_dump_json() + "\n" for task in tasks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="database seed (default 0)")
    parser.add_argument("--out", type=Path, default=TASK_FILE, help=f"output file (default {TASK_FILE})")
    parser.add_argument("--db-dir", default=None, help="where to build/cache the database")
    parser.add_argument("--check", action="store_true", help="only check that --out is up to date")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        tasks = build_tasks(args.seed, args.db_dir or scratch)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != render(tasks):
            print(f"{args.out} is out of date; run python -m envgym.envs.sql.make_tasks", file=sys.stderr)
            return 1
        print(f"{args.out}: {len(tasks)} tasks, up to date")
        return 0
    save_tasks(args.out, tasks)
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.spec["difficulty"]] = counts.get(task.spec["difficulty"], 0) + 1
    print(f"wrote {len(tasks)} tasks to {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
