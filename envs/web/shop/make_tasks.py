"""Generate ``tasks.jsonl`` for the shop: ``python -m envgym.envs.web.shop.make_tasks``.

Each task's oracle (``golden.actions``) is computed from the seeded state by the solvers below,
using the app's stable element ids (bids).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envgym.envs.web.shop import data
from envgym.envs.web.shop.app import CartLine, Product, ShopApp, ShopState
from envgym.envs.web.taskgen import make_task, write

ENV_ID = "envgym/WebShop-v0"
CARD = {"name": "Casey Morgan", "number": "4242 4242 4242 4242", "exp": "08/27", "cvv": "123", "last4": "4242"}
CARD2 = {"name": "Dana Whitfield", "number": "5555 5555 5555 4444", "exp": "11/26", "cvv": "987", "last4": "4444"}


def open_product(p) -> list[str]:
    return [f'fill("search-input", "{p.name}")', 'click("search-button")', f'click("product-{p.id}")']


def add_to_cart(p, qty: int = 1, color: str = "", size: str = "") -> list[str]:
    acts = open_product(p)
    if color:
        acts.append(f'select("opt-color", "{color}")')
    if size:
        acts.append(f'select("opt-size", "{size}")')
    if qty != 1:
        acts.append(f'fill("qty", "{qty}")')
    return acts + ['click("add-to-cart")']


def checkout(address: dict | str, method: str, card: dict, promo: str = "", from_cart_page: bool = True) -> list[str]:
    acts = [] if from_cart_page else ['click("nav-cart")']
    if promo:
        acts += [f'fill("promo-code", "{promo}")', 'click("promo-apply")']
    acts.append('click("checkout-button")')
    if address == "saved":
        acts.append('click("use-saved-address")')
    else:
        acts += [f'fill("ship-name", "{address["full_name"]}")', f'fill("ship-street", "{address["street"]}")',
                 f'fill("ship-city", "{address["city"]}")', f'select("ship-state", "{address["state"]}")',
                 f'fill("ship-zip", "{address["zip"]}")']
    if method != "standard":
        acts.append(f'click("ship-{method}")')
    acts += [f'fill("card-name", "{card["name"]}")', f'fill("card-number", "{card["number"]}")',
             f'fill("card-exp", "{card["exp"]}")', f'fill("card-cvv", "{card["cvv"]}")', 'click("place-order")',
             'answer("done")']
    return acts


def build() -> list:
    """The shop's tasks: for each of three seeds, look-ups, cart and wishlist changes, a cancellation, tasks on a
    prepared cart and full purchases (one random stream per seed, drawn in that order)."""
    tasks: list = []

    def add(*args: Any, **kwargs: Any) -> None:
        tasks.append(make_task(ENV_ID, *args, **kwargs))

    app = ShopApp()
    for seed in range(3):
        s = app.generate(seed)
        rng = random.Random(f"tasks-{seed}")
        _lookup_tasks(add, s, rng, seed)
        _shopping_tasks(add, s, rng, seed)
        prepared, picks = _prepared_cart(s, rng)
        init = prepared.model_dump(mode="json")
        _cart_tasks(add, picks, init, seed)
        _purchase_tasks(add, s, rng, seed)
        if seed < 2:
            _checkout_cart_task(add, prepared, init, seed)
    return tasks


def _buyable(s: ShopState, rng: random.Random, *, options: bool | None = None, min_stock: int = 3) -> Product:
    """A random product with at least ``min_stock`` in stock; with colour/size options, without, or either (``None``)."""
    pool = [p for p in s.products if p.stock >= min_stock and (options is None or bool(p.colors or p.sizes) == options)]
    return rng.choice(pool)


def _lookup_tasks(add: Callable[..., None], s: ShopState, rng: random.Random, seed: int) -> None:
    """Questions: a price, the cheapest of a department, a count under a price filter, an order's total."""
    by_cat = {c: [p for p in s.products if p.category == c] for c in data.CATEGORIES}
    # --- price lookup (easy)
    p = rng.choice(s.products)
    add(f"shop-price-{seed}", f"What is the price of the “{p.name}” on Lumen Market? Answer with the price.",
        {"type": "answer", "expected": {"number": p.price_cents / 100}}, open_product(p) + [f'answer("${p.price_cents / 100:.2f}")'],
        seed=seed, answer=f"${p.price_cents / 100:.2f}")
    # --- cheapest in a category (sort dropdown)
    cat = list(data.CATEGORIES)[seed % len(data.CATEGORIES)]
    cheapest = min(by_cat[cat], key=lambda x: (x.price_cents, x.id))
    add(f"shop-cheapest-{seed}", f"Which product in the {data.CATEGORIES[cat]['label']} department is the cheapest? Answer with its exact name.",
        {"type": "answer", "expected": {"text": cheapest.name}},
        [f'click("cat-{cat}")', 'select("sort-select", "Price: Low to High")', f'answer("{cheapest.name}")'],
        seed=seed, answer=cheapest.name)
    # --- count with a price filter
    cat2 = list(data.CATEGORIES)[(seed + 2) % len(data.CATEGORIES)]
    limit = sorted(x.price_cents for x in by_cat[cat2])[len(by_cat[cat2]) // 2] // 100 + 1
    count = sum(1 for x in by_cat[cat2] if x.price_cents <= limit * 100 and x.stock > 0)
    add(f"shop-count-{seed}", f"How many in-stock products in the {data.CATEGORIES[cat2]['label']} department cost at most ${limit}? Answer with a number.",
        {"type": "answer", "expected": {"number": count}},
        [f'click("cat-{cat2}")', f'fill("filter-max", "{limit}")', 'click("filter-in-stock")', 'click("filter-apply")', f'answer("{count}")'],
        seed=seed, answer=count)
    # --- order total lookup
    o = s.orders[seed % len(s.orders)]
    add(f"shop-order-total-{seed}", f"What was the total of your order {o.id}? Answer with the amount.",
        {"type": "answer", "expected": {"number": o.total_cents / 100}},
        ['click("nav-orders")', f'click("order-{o.id}")', f'answer("${o.total_cents / 100:.2f}")'], seed=seed,
        answer=f"${o.total_cents / 100:.2f}")


def _shopping_tasks(add: Callable[..., None], s: ShopState, rng: random.Random, seed: int) -> None:
    """Add to the cart (a quantity; colour and size options), save to the wishlist, cancel a processing order."""
    # --- add to cart, no options, quantity
    p = _buyable(s, rng, options=False)
    qty = rng.randint(2, 3)
    add(f"shop-add-{seed}", f"Add {qty} units of “{p.name}” to your shopping cart (do not check out).",
        {"type": "cart_line", "product_id": p.id, "qty": qty}, add_to_cart(p, qty) + ['answer("done")'], seed=seed)
    # --- add to cart with options
    p = next((x for x in s.products if x.sizes and x.colors and x.stock >= 3), None) or _buyable(s, rng, options=True)
    color = rng.choice(p.colors) if p.colors else ""
    size = rng.choice(p.sizes) if p.sizes else ""
    desc = " ".join(x for x in (size and f"size {size}", color) if x)
    add(f"shop-add-options-{seed}", f"Put one “{p.name}” in {desc} into your cart.",
        {"type": "cart_line", "product_id": p.id, "qty": 1, "color": color, "size": size},
        add_to_cart(p, 1, color, size) + ['answer("done")'], seed=seed)
    # --- wishlist (a product not featured on the home page: the agent has to find it)
    featured = {x.id for x in sorted(s.products, key=lambda x: (-x.reviews, x.id))[:8]}
    p = rng.choice([x for x in s.products if x.id not in featured])
    add(f"shop-wishlist-{seed}", f"Save “{p.name}” to your wishlist.", {"type": "wishlist", "product_id": p.id},
        open_product(p) + ['click("add-to-wishlist")', 'answer("done")'], seed=seed)
    # --- cancel a processing order
    o = [x for x in s.orders if x.status == "processing"][seed % 2]
    add(f"shop-cancel-{seed}", f"Cancel order {o.id} — it has not shipped yet.", {"type": "cancel", "order_id": o.id},
        ['click("nav-orders")', f'click("order-{o.id}")', 'click("cancel-order")', 'answer("done")'], seed=seed)


def _prepared_cart(s: ShopState, rng: random.Random) -> tuple[ShopState, list[Product]]:
    """A copy of ``s`` with three option-less products in the cart (lines L1–L3), and those products."""
    prepared = s.model_copy(deep=True)
    picks = [x for x in prepared.products if x.stock >= 4 and not x.colors and not x.sizes]
    rng.shuffle(picks)
    for i, q in enumerate(picks[:3]):
        prepared.cart.append(CartLine(line_id=f"L{i + 1}", product_id=q.id, qty=1 + (i % 2)))
    prepared.next_line = 4
    return prepared, picks


def _cart_tasks(add: Callable[..., None], picks: list[Product], init: dict, seed: int) -> None:
    """Tasks on the prepared cart: remove a line, change a quantity, apply a promo code."""
    victim = picks[1]
    add(f"shop-remove-{seed}", f"Remove “{victim.name}” from your cart, keeping the other items.",
        {"type": "cart_removed", "product_id": victim.id}, ['click("nav-cart")', 'click("remove-L2")', 'answer("done")'],
        initial_state=init)
    add(f"shop-qty-{seed}", f"Change the quantity of “{picks[0].name}” in your cart to 3.",
        {"type": "cart_line", "product_id": picks[0].id, "qty": 3},
        ['click("nav-cart")', 'fill("qty-L1", "3")', 'click("update-L1")', 'answer("done")'], initial_state=init)
    code = ["SAVE10", "WELCOME15", "SPRING20", "SAVE10"][seed]
    add(f"shop-promo-{seed}", f"Apply the promo code {code} to your cart.", {"type": "promo", "code": code},
        ['click("nav-cart")', f'fill("promo-code", "{code.lower() if seed == 3 else code}")', 'click("promo-apply")', 'answer("done")'],
        initial_state=init)


def _purchase_tasks(add: Callable[..., None], s: ShopState, rng: random.Random, seed: int) -> None:
    """Full purchases: one to a new address, one of two products with a promo code to the saved address."""
    p = _buyable(s, rng, options=False)
    addr = data.make_person(random.Random(f"addr-{seed}"))
    method = ["express", "overnight", "standard", "express"][seed]
    card = CARD if seed % 2 == 0 else CARD2
    state_name = dict(data.US_STATES)[addr["state"]]
    add(f"shop-buy-{seed}",
        f"Buy one “{p.name}” and ship it to {addr['full_name']}, {addr['street']}, {addr['city']}, {state_name} {addr['zip']} "
        f"with {method} shipping. Pay with the card {card['number']} (name {card['name']}, expires {card['exp']}, CVV {card['cvv']}).",
        {"type": "order_placed", "lines": [{"product_id": p.id, "qty": 1, "color": "", "size": ""}], "address": addr,
         "method": method, "card_last4": card["last4"]},
        add_to_cart(p) + checkout({**addr, "state": state_name}, method, card), seed=seed)
    p1 = _buyable(s, rng, options=False)
    p2 = next(x for x in s.products if x.sizes and x.colors and x.stock >= 3)
    color, size = p2.colors[-1], p2.sizes[1]
    code = ["SPRING20", "SAVE10", "WELCOME15", "SPRING20"][seed]
    add(f"shop-buy-promo-{seed}",
        f"Order 2 × “{p1.name}” and one “{p2.name}” (size {size}, {color}). Ship to your saved address with standard shipping, "
        f"use promo code {code}, and pay with card {CARD['number']} (name {CARD['name']}, exp {CARD['exp']}, CVV {CARD['cvv']}).",
        {"type": "order_placed", "lines": [{"product_id": p1.id, "qty": 2, "color": "", "size": ""},
                                           {"product_id": p2.id, "qty": 1, "color": color, "size": size}],
         "address": "saved", "method": "standard", "card_last4": "4242", "promo": code},
        add_to_cart(p1, 2) + add_to_cart(p2, 1, color, size) + checkout("saved", "standard", CARD, promo=code), seed=seed)


def _checkout_cart_task(add: Callable[..., None], prepared: ShopState, init: dict, seed: int) -> None:
    """Check out the prepared cart as it is."""
    add(f"shop-checkout-cart-{seed}",
        f"Check out exactly what is in your cart now: ship overnight to your saved address and pay with card "
        f"{CARD2['number']} (name {CARD2['name']}, exp {CARD2['exp']}, CVV {CARD2['cvv']}).",
        {"type": "order_placed", "lines": [{"product_id": cart_line.product_id, "qty": cart_line.qty, "color": "", "size": ""} for cart_line in prepared.cart],
         "address": "saved", "method": "overnight", "card_last4": "4444"},
        checkout("saved", "overnight", CARD2, from_cart_page=False), initial_state=init)


if __name__ == "__main__":
    write(build(), Path(__file__).with_name("tasks.jsonl"))
