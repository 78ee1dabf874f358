"""The SQL env's database: a small online shop, generated deterministically from a seed.

``ensure_database(seed)`` returns the path of a real SQLite file holding the shop for ``seed``,
building it on first use.  Files are cached under ``db_dir`` (default ``$ENVGYM_SQL_DB_DIR``, else
``$XDG_CACHE_HOME/envgym/sql``, else ``~/.cache/envgym/sql``; the system temp dir if that is not
writable) as ``shop-v{SCHEMA_VERSION}-seed{seed}.sqlite``.
A build writes a temporary file in the same directory and renames it into place, so concurrent
builders (parallel workers, several processes) never expose a half-written database: readers see
no file or a complete one.  The cached file is made read-only on disk (mode 0444) as well.

Tables (row counts for every seed):

================  =====  =================================================================
table             rows   contents
================  =====  =================================================================
departments       9      name, location, budget
employees         64     names, title, department, manager (self-reference), hire date, salary
customers         400    names, email, city, country, segment, signup date
suppliers         15     company name, country
products          120    name, category, supplier, unit price and cost, stock, discontinued flag
orders            2000   customer, sales rep (employee), order date, status, shipping city
order_items       ~4900  order lines: product, quantity, unit price, discount
payments          ~1900  order, payment date, amount, method
================  =====  =================================================================

Bump :data:`SCHEMA_VERSION` whenever the generated content changes: it is part of the cache key
and stored in the file's ``user_version``, so stale caches are rebuilt, never reused.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import tempfile
import threading
from pathlib import Path

#: Version of the schema *and* of the generator; part of the cache key.
SCHEMA_VERSION = 1
#: Stored in the SQLite header (``PRAGMA application_id``) to recognise our files: "EGSQ".
APPLICATION_ID = 0x45475351

TABLES = ("departments", "employees", "customers", "suppliers", "products", "orders", "order_items", "payments")

DDL = """
CREATE TABLE departments (
    department_id INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    location      TEXT NOT NULL,
    budget        REAL NOT NULL
);
CREATE TABLE employees (
    employee_id   INTEGER PRIMARY KEY,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments(department_id),
    manager_id    INTEGER REFERENCES employees(employee_id),
    hire_date     TEXT NOT NULL,
    salary        REAL NOT NULL
);
CREATE TABLE customers (
    customer_id   INTEGER PRIMARY KEY,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    city          TEXT NOT NULL,
    country       TEXT NOT NULL,
    segment       TEXT NOT NULL CHECK (segment IN ('Consumer', 'Corporate', 'Small Business')),
    signup_date   TEXT NOT NULL
);
CREATE TABLE suppliers (
    supplier_id   INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    country       TEXT NOT NULL
);
CREATE TABLE products (
    product_id     INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    category       TEXT NOT NULL,
    supplier_id    INTEGER NOT NULL REFERENCES suppliers(supplier_id),
    unit_price     REAL NOT NULL,
    unit_cost      REAL NOT NULL,
    stock_quantity INTEGER NOT NULL,
    discontinued   INTEGER NOT NULL CHECK (discontinued IN (0, 1))
);
CREATE TABLE orders (
    order_id      INTEGER PRIMARY KEY,
    customer_id   INTEGER NOT NULL REFERENCES customers(customer_id),
    employee_id   INTEGER NOT NULL REFERENCES employees(employee_id),
    order_date    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled', 'returned')),
    ship_city     TEXT NOT NULL,
    ship_country  TEXT NOT NULL
);
CREATE TABLE order_items (
    order_item_id INTEGER PRIMARY KEY,
    order_id      INTEGER NOT NULL REFERENCES orders(order_id),
    product_id    INTEGER NOT NULL REFERENCES products(product_id),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    unit_price    REAL NOT NULL,
    discount      REAL NOT NULL CHECK (discount >= 0 AND discount < 1)
);
CREATE TABLE payments (
    payment_id    INTEGER PRIMARY KEY,
    order_id      INTEGER NOT NULL REFERENCES orders(order_id),
    payment_date  TEXT NOT NULL,
    amount        REAL NOT NULL,
    method        TEXT NOT NULL CHECK (method IN ('credit_card', 'paypal', 'bank_transfer', 'gift_card'))
);
CREATE INDEX idx_employees_department ON employees(department_id);
CREATE INDEX idx_employees_manager ON employees(manager_id);
CREATE INDEX idx_products_supplier ON products(supplier_id);
CREATE INDEX idx_orders_customer ON orders(customer_id);
CREATE INDEX idx_orders_employee ON orders(employee_id);
CREATE INDEX idx_orders_date ON orders(order_date);
CREATE INDEX idx_order_items_order ON order_items(order_id);
CREATE INDEX idx_order_items_product ON order_items(product_id);
CREATE INDEX idx_payments_order ON payments(order_id);
"""

#: One line per column that needs explaining, shown to the agent with the schema.
COLUMN_NOTES: dict[str, dict[str, str]] = {
    "departments": {"budget": "annual budget in USD"},
    "employees": {
        "manager_id": "the direct manager; NULL for the CEO",
        "hire_date": "YYYY-MM-DD",
        "salary": "annual salary in USD",
    },
    "customers": {"segment": "'Consumer', 'Corporate' or 'Small Business'", "signup_date": "YYYY-MM-DD"},
    "products": {
        "unit_price": "current list price in USD",
        "unit_cost": "purchase cost in USD",
        "discontinued": "1 if no longer sold, else 0",
    },
    "orders": {
        "employee_id": "the sales rep who handled the order",
        "order_date": "YYYY-MM-DD",
        "status": "'pending', 'shipped', 'delivered', 'cancelled' or 'returned'",
    },
    "order_items": {
        "unit_price": "price charged per unit; may differ from the current list price",
        "discount": "fraction, e.g. 0.1 = 10% off",
    },
    "payments": {"payment_date": "YYYY-MM-DD", "method": "'credit_card', 'paypal', 'bank_transfer' or 'gift_card'"},
}

SCHEMA_NOTES = (
    "Notes: dates are TEXT 'YYYY-MM-DD' (use strftime/date functions or string comparison). "
    "The value of an order line is quantity * unit_price * (1 - discount); an order's value is the sum "
    "over its lines. Cancelled orders and some pending orders have no payments; an order may be paid in several payments."
)

# --------------------------------------------------------------------------- generator data
_FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony Betty Mark Sandra Paul "
    "Ashley Steven Emily Andrew Donna Joshua Michelle Kevin Carol Brian Amanda George Melissa Omar Priya "
    "Hiroshi Sofia Lukas Chloe Mateo Aisha Lars Ingrid Wei Mei Pierre Camille Diego Lucia"
).split()
_LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Muller Schmidt Rossi Dubois Tanaka Sato "
    "Kowalski Novak Jensen Larsen"
).split()
_COUNTRIES: dict[str, tuple[tuple[str, ...], float]] = {  # cities, customer weight
    "USA": (("New York", "Chicago", "Austin", "Seattle", "Boston", "Denver"), 30),
    "Canada": (("Toronto", "Vancouver", "Montreal"), 9),
    "UK": (("London", "Manchester", "Edinburgh"), 12),
    "Germany": (("Berlin", "Munich", "Hamburg"), 11),
    "France": (("Paris", "Lyon", "Marseille"), 8),
    "Spain": (("Madrid", "Barcelona", "Valencia"), 6),
    "Italy": (("Rome", "Milan", "Turin"), 5),
    "Netherlands": (("Amsterdam", "Rotterdam"), 4),
    "Japan": (("Tokyo", "Osaka", "Kyoto"), 6),
    "Australia": (("Sydney", "Melbourne", "Brisbane"), 5),
    "Brazil": (("Sao Paulo", "Rio de Janeiro"), 4),
}
_DEPARTMENTS = (  # name, location, budget, head count (including the head)
    ("Executive", "New York", 2_500_000, 1),
    ("Sales", "New York", 1_800_000, 18),
    ("Marketing", "Chicago", 950_000, 7),
    ("Engineering", "Austin", 3_200_000, 14),
    ("Customer Support", "Austin", 600_000, 9),
    ("Finance", "New York", 720_000, 5),
    ("Human Resources", "Chicago", 410_000, 3),
    ("Operations", "Seattle", 1_150_000, 5),
    ("Legal", "Boston", 530_000, 2),
)
_TITLES = {  # department -> (head title, staff titles)
    "Executive": ("Chief Executive Officer", ()),
    "Sales": ("VP of Sales", ("Account Executive", "Senior Account Executive", "Sales Associate")),
    "Marketing": ("Head of Marketing", ("Marketing Specialist", "Content Strategist", "Brand Manager")),
    "Engineering": ("CTO", ("Software Engineer", "Senior Software Engineer", "Data Engineer", "QA Engineer")),
    "Customer Support": ("Support Manager", ("Support Agent", "Senior Support Agent")),
    "Finance": ("CFO", ("Accountant", "Financial Analyst")),
    "Human Resources": ("HR Director", ("Recruiter", "HR Generalist")),
    "Operations": ("COO", ("Logistics Coordinator", "Warehouse Supervisor")),
    "Legal": ("General Counsel", ("Paralegal",)),
}
_SALARY = {  # department -> (head salary, staff salary range)
    "Executive": (310_000, (0, 0)),
    "Sales": (185_000, (52_000, 118_000)),
    "Marketing": (150_000, (58_000, 105_000)),
    "Engineering": (235_000, (88_000, 172_000)),
    "Customer Support": (98_000, (41_000, 66_000)),
    "Finance": (205_000, (64_000, 121_000)),
    "Human Resources": (132_000, (55_000, 84_000)),
    "Operations": (178_000, (47_000, 89_000)),
    "Legal": (198_000, (61_000, 92_000)),
}
_SUPPLIER_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Vandelay", "Stark", "Wayne", "Soylent", "Hooli", "Wonka",
    "Tyrell", "Cyberdyne", "Gringotts", "Monarch", "Oceanic", "Nakatomi", "Duff", "Massive",
)
_SUPPLIER_SUFFIXES = ("Trading", "Supply Co", "Industries", "Wholesale", "Imports", "Manufacturing", "Goods")
_CATEGORIES = {  # category -> (nouns, price range, sales weight)
    "Electronics": (("Headphones", "Speaker", "Charger", "Webcam", "Keyboard", "Mouse", "Monitor", "Router", "Tablet", "Smartwatch"), (19, 650), 1.3),
    "Books": (("Cookbook", "Novel", "Atlas", "Biography", "Field Guide", "Poetry Collection", "Workbook"), (8, 60), 1.0),
    "Home & Kitchen": (("Blender", "Kettle", "Skillet", "Knife Set", "Lamp", "Toaster", "Cutting Board", "Coffee Grinder"), (12, 240), 1.1),
    "Toys": (("Puzzle", "Building Blocks", "Plush Bear", "Kite", "Board Game", "Robot Kit", "Yo-Yo"), (6, 120), 0.8),
    "Sports": (("Yoga Mat", "Dumbbell Set", "Tennis Racket", "Water Bottle", "Running Shoes", "Bike Helmet", "Jump Rope"), (9, 280), 0.9),
    "Clothing": (("Hoodie", "Rain Jacket", "T-Shirt", "Wool Scarf", "Jeans", "Sneakers", "Baseball Cap"), (10, 190), 1.0),
    "Beauty": (("Face Cream", "Shampoo", "Lip Balm", "Perfume", "Hair Dryer", "Nail Kit"), (5, 140), 0.7),
    "Garden": (("Hose", "Pruning Shears", "Planter", "Seed Kit", "Wheelbarrow", "Bird Feeder"), (7, 210), 0.6),
}
_ADJECTIVES = (
    "Classic", "Deluxe", "Eco", "Pro", "Compact", "Premium", "Smart", "Ultra", "Vintage", "Essential",
    "Rustic", "Nova", "Zen", "Turbo", "Lunar", "Solar", "Arctic", "Urban", "Golden", "Midnight",
)
_STATUSES = (("delivered", 70), ("shipped", 8), ("pending", 5), ("cancelled", 10), ("returned", 7))
_METHODS = (("credit_card", 55), ("paypal", 25), ("bank_transfer", 12), ("gift_card", 8))
_DISCOUNTS = ((0.0, 70), (0.05, 12), (0.1, 10), (0.15, 5), (0.2, 3))

N_CUSTOMERS = 400
N_SUPPLIERS = 15
N_PRODUCTS = 120
N_ORDERS = 2000
FIRST_ORDER_DATE = dt.date(2022, 1, 1)
LAST_ORDER_DATE = dt.date(2024, 12, 31)


def _weighted(rng: random.Random, pairs) -> object:
    values = [value for value, _ in pairs]
    weights = [weight for _, weight in pairs]
    return rng.choices(values, weights=weights, k=1)[0]


def _date_between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _unique_names(rng: random.Random, count: int, taken: set[tuple[str, str]]) -> list[tuple[str, str]]:
    names = []
    while len(names) < count:
        name = (rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES))
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def generate_rows(seed: int) -> dict[str, list[tuple]]:
    """All rows of the shop for ``seed``, table by table (pure: same seed, same rows).

    The tables are drawn in a fixed order from one random stream: staff, customers, suppliers,
    products, then orders with their lines and payments."""
    rng = random.Random(f"envgym-sql-shop-{SCHEMA_VERSION}-{seed}")
    rows: dict[str, list[tuple]] = {table: [] for table in TABLES}
    people: set[tuple[str, str]] = set()
    emails: set[str] = set()
    rows["departments"], rows["employees"], sales_reps = _staff(rng, people, emails)
    rows["customers"] = _customers(rng, people, emails)
    rows["suppliers"] = _suppliers(rng)
    rows["products"] = _products(rng)
    rows["orders"], rows["order_items"], rows["payments"] = _orders(rng, rows["customers"], rows["products"], sales_reps)
    return rows


def _unique_email(emails: set[str], first: str, last: str, domain: str) -> str:
    """``first.last@domain``, numbered (``first.last2@domain``...) past those in ``emails``; added to them."""
    base = f"{first}.{last}".lower()
    email, n = f"{base}@{domain}", 1
    while email in emails:
        n += 1
        email = f"{base}{n}@{domain}"
    emails.add(email)
    return email


def _staff(rng: random.Random, people: set[tuple[str, str]], emails: set[str]) -> tuple[list[tuple], list[tuple], list[int]]:
    """Departments, employees and the ids of the sales reps: the CEO (the first department's head), one
    head per department reporting to the CEO, staff reporting to their head."""
    departments: list[tuple] = []
    employees: list[tuple] = []
    sales_reps: list[int] = []
    ceo_id = None
    for department_id, (name, location, budget, head_count) in enumerate(_DEPARTMENTS, 1):
        budget_jitter = rng.randint(-40, 40) * 1000
        departments.append((department_id, name, location, float(budget + budget_jitter)))
        head_id = None
        for index, (first, last) in enumerate(_unique_names(rng, head_count, people)):
            employee_id = len(employees) + 1
            if index == 0:
                title, salary, hire = _head_terms(rng, name)
                manager = ceo_id
                head_id = employee_id
                if ceo_id is None:
                    ceo_id = employee_id
            else:
                title, salary, hire = _staff_terms(rng, name)
                manager = head_id
                if name == "Sales":
                    sales_reps.append(employee_id)
            employees.append((
                employee_id, first, last, _unique_email(emails, first, last, "shop.example.com"), title, department_id,
                manager, hire.isoformat(), float(salary),
            ))
    return departments, employees, sales_reps


def _head_terms(rng: random.Random, department: str) -> tuple[str, int, dt.date]:
    """Title, salary and hire date of ``department``'s head."""
    head_title, _ = _TITLES[department]
    head_salary, _ = _SALARY[department]
    salary = head_salary + rng.randint(-15, 15) * 1000
    hire = _date_between(rng, dt.date(2012, 1, 1), dt.date(2018, 12, 31))
    return head_title, salary, hire


def _staff_terms(rng: random.Random, department: str) -> tuple[str, int, dt.date]:
    """Title, salary (seniors earn more) and hire date of a staff member of ``department``."""
    _, staff_titles = _TITLES[department]
    _, (low, high) = _SALARY[department]
    title = rng.choice(staff_titles)
    salary = rng.randint(low // 500, high // 500) * 500
    if title.startswith("Senior"):
        salary = min(high + 20_000, salary + 15_000)
    hire = _date_between(rng, dt.date(2015, 1, 1), dt.date(2024, 6, 30))
    return title, salary, hire


def _customers(rng: random.Random, people: set[tuple[str, str]], emails: set[str]) -> list[tuple]:
    """Customers, none named like an employee, in weighted countries and segments."""
    countries = list(_COUNTRIES)
    country_weights = [_COUNTRIES[c][1] for c in countries]
    customers = []
    for customer_id, (first, last) in enumerate(_unique_names(rng, N_CUSTOMERS, set(people)), 1):
        country = rng.choices(countries, weights=country_weights, k=1)[0]
        city = rng.choice(_COUNTRIES[country][0])
        segment = _weighted(rng, (("Consumer", 62), ("Corporate", 23), ("Small Business", 15)))
        signup = _date_between(rng, dt.date(2021, 1, 1), dt.date(2024, 11, 30))
        domain = rng.choice(("example.com", "mail.example.net", "inbox.example.org"))
        email = _unique_email(emails, first, last, domain)
        customers.append((customer_id, first, last, email, city, country, segment, signup.isoformat()))
    return customers


def _suppliers(rng: random.Random) -> list[tuple]:
    """:data:`N_SUPPLIERS` suppliers with distinct names, sorted by name."""
    countries = list(_COUNTRIES)
    supplier_names: set[str] = set()
    while len(supplier_names) < N_SUPPLIERS:
        supplier_names.add(f"{rng.choice(_SUPPLIER_WORDS)} {rng.choice(_SUPPLIER_SUFFIXES)}")
    return [(supplier_id, name, rng.choice(countries)) for supplier_id, name in enumerate(sorted(supplier_names), 1)]


def _products(rng: random.Random) -> list[tuple]:
    """:data:`N_PRODUCTS` products with distinct names, the categories taken in turn."""
    categories = list(_CATEGORIES)
    product_names: set[str] = set()
    products: list[tuple] = []
    while len(products) < N_PRODUCTS:
        category = categories[len(products) % len(categories)]
        nouns, (low, high), _ = _CATEGORIES[category]
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(nouns)}"
        if name in product_names:
            continue
        product_names.add(name)
        price = round(rng.uniform(low, high), 0) - 0.01
        cost = round(price * rng.uniform(0.38, 0.74), 2)
        stock = rng.randint(0, 400)
        discontinued = 1 if rng.random() < 0.1 else 0
        supplier = rng.randint(1, N_SUPPLIERS)
        products.append((len(products) + 1, name, category, supplier, price, cost, stock, discontinued))
    return products


def _orders(
    rng: random.Random, customers: list[tuple], products: list[tuple], sales_reps: list[int],
) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Orders, their lines and their payments (none for cancelled orders, half of the pending ones unpaid);
    some customers never order, some products and reps sell more than others."""
    product_weights = [_CATEGORIES[p[2]][2] * rng.uniform(0.3, 1.7) for p in products]
    customer_weights = [0.0 if rng.random() < 0.08 else rng.uniform(0.2, 2.0) for _ in customers]
    rep_weights = [rng.uniform(0.5, 1.5) for _ in sales_reps]
    orders: list[tuple] = []
    order_items: list[tuple] = []
    payments: list[tuple] = []
    for order_id in range(1, N_ORDERS + 1):
        customer = rng.choices(customers, weights=customer_weights, k=1)[0]
        order = _order(rng, order_id, customer, sales_reps, rep_weights)
        orders.append(order)
        lines = _order_lines(rng, order_id, len(order_items) + 1, products, product_weights)
        order_items.extend(lines)
        status = order[4]
        if status == "cancelled" or (status == "pending" and rng.random() < 0.5):
            continue
        payments.extend(_payments(rng, order, _order_total(lines), len(payments) + 1))
    return orders, order_items, payments


def _order(rng: random.Random, order_id: int, customer: tuple, sales_reps: list[int], rep_weights: list[float]) -> tuple:
    """One order of ``customer`` after their signup (recent ones not delivered yet), shipped to their city
    most of the time."""
    signup = dt.date.fromisoformat(customer[7])
    order_date = _date_between(rng, max(signup, FIRST_ORDER_DATE), LAST_ORDER_DATE)
    status = _weighted(rng, _STATUSES)
    if order_date >= dt.date(2024, 12, 20) and status == "delivered":
        status = "shipped"
    rep = rng.choices(sales_reps, weights=rep_weights, k=1)[0]
    ship_city = customer[4] if rng.random() < 0.92 else rng.choice(_COUNTRIES[customer[5]][0])
    return (order_id, customer[0], rep, order_date.isoformat(), status, ship_city, customer[5])


def _order_lines(
    rng: random.Random, order_id: int, first_item_id: int, products: list[tuple], product_weights: list[float],
) -> list[tuple]:
    """The lines of one order (1 to 5 draws; a product drawn twice is one line), numbered from ``first_item_id``."""
    chosen: set[int] = set()
    lines: list[tuple] = []
    for _ in range(rng.choices((1, 2, 3, 4, 5), weights=(30, 28, 20, 13, 9), k=1)[0]):
        product = rng.choices(products, weights=product_weights, k=1)[0]
        if product[0] in chosen:
            continue
        chosen.add(product[0])
        quantity = rng.choices((1, 2, 3, 4, 5, 10), weights=(50, 22, 12, 7, 5, 4), k=1)[0]
        unit_price = product[4] if rng.random() < 0.85 else round(product[4] * rng.uniform(0.85, 1.1), 2)
        discount = _weighted(rng, _DISCOUNTS)
        lines.append((first_item_id + len(lines), order_id, product[0], quantity, unit_price, discount))
    return lines


def _order_total(lines: list[tuple]) -> float:
    """Sum over the lines of quantity × unit price × (1 − discount), rounded to cents (added in line order)."""
    total = 0.0
    for _, _, _, quantity, unit_price, discount in lines:
        total += quantity * unit_price * (1 - discount)
    return round(total, 2)


def _payments(rng: random.Random, order: tuple, total: float, first_payment_id: int) -> list[tuple]:
    """The payments of ``order``: one, or two parts for some large orders, a few days apart."""
    order_id, order_date = order[0], dt.date.fromisoformat(order[3])
    method = _weighted(rng, _METHODS)
    parts = [total]
    if total > 200 and rng.random() < 0.12:
        first_part = round(total * rng.uniform(0.3, 0.7), 2)
        parts = [first_part, round(total - first_part, 2)]
    payments = []
    paid_on = order_date
    for payment_id, amount in enumerate(parts, first_payment_id):
        paid_on = paid_on + dt.timedelta(days=rng.randint(0, 6))
        payments.append((payment_id, order_id, paid_on.isoformat(), amount, method))
        method = _weighted(rng, _METHODS)
    return payments


# --------------------------------------------------------------------------- building & caching
def default_db_dir() -> Path:
    """``$ENVGYM_SQL_DB_DIR``, else ``$XDG_CACHE_HOME/envgym/sql``, else ``~/.cache/envgym/sql``."""
    explicit = os.environ.get("ENVGYM_SQL_DB_DIR")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "envgym" / "sql"


def database_id(seed: int) -> str:
    """Stable name of the database for ``seed`` (also its file stem)."""
    return f"shop-v{SCHEMA_VERSION}-seed{int(seed)}"


def build_database(path: str | os.PathLike, seed: int) -> None:
    """Write the shop for ``seed`` to ``path`` (atomically: temp file in the same directory + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = generate_rows(seed)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("BEGIN")
            for statement in DDL.split(";"):
                if statement.strip():
                    conn.execute(statement)
            for table in TABLES:
                if rows[table]:
                    marks = ",".join("?" * len(rows[table][0]))
                    conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[table])
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
            problems = conn.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"generated database violates foreign keys: {problems[:5]}")
        finally:
            conn.close()
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def is_valid_database(path: str | os.PathLike) -> bool:
    """True when ``path`` is one of our databases with the current schema version and all tables."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return app_id == APPLICATION_ID and version == SCHEMA_VERSION and set(TABLES) <= tables


_VALIDATED: dict[str, tuple[int, int, int]] = {}
_BUILD_LOCK = threading.Lock()


def ensure_database(seed: int = 0, db_dir: str | os.PathLike | None = None) -> Path:
    """The path of the shop database for ``seed``, building (or rebuilding a stale/corrupt) file if
    needed.  Without ``db_dir``, an unwritable default cache falls back to the system temp dir."""
    if db_dir is not None:
        return _ensure_in(Path(db_dir), seed)
    try:
        return _ensure_in(default_db_dir(), seed)
    except OSError:
        return _ensure_in(Path(tempfile.gettempdir()) / f"envgym-sql-{os.getuid() if hasattr(os, 'getuid') else 0}", seed)


def _ensure_in(directory: Path, seed: int) -> Path:
    path = directory / f"{database_id(seed)}.sqlite"
    with _BUILD_LOCK:  # one builder per process; other processes are handled by the atomic rename
        if _still_validated(path):
            return path
        if not is_valid_database(path):
            build_database(path, seed)
        stat = path.stat()
        _VALIDATED[str(path)] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    return path


def _still_validated(path: Path) -> bool:
    known = _VALIDATED.get(str(path))
    if known is None:
        return False
    try:
        stat = path.stat()
    except OSError:
        return False
    return known == (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def schema_summary(path: str | os.PathLike) -> str:
    """A compact description of every table: columns, types, keys, notes and row counts."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        lines = []
        for table in TABLES:
            count = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            foreign = {row[3]: f"{row[2]}.{row[4]}" for row in conn.execute(f"PRAGMA foreign_key_list({table})")}
            notes = COLUMN_NOTES.get(table, {})
            columns = []
            for _, name, type_, _notnull, _default, pk in conn.execute(f"PRAGMA table_info({table})"):
                column = f"{name} {type_}"
                if pk:
                    column += " PK"
                if name in foreign:
                    column += f" -> {foreign[name]}"
                if name in notes:
                    column += f" ({notes[name]})"
                columns.append(column)
            lines.append(f"{table} [{count} rows]: " + ", ".join(columns))
    finally:
        conn.close()
    return "\n".join(lines) + "\n" + SCHEMA_NOTES
