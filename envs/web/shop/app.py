"""Lumen Market: a mock online shop (search, filters, product pages, cart, checkout, orders).

State (:class:`ShopState`): the catalogue, the signed-in customer (with a saved address), the cart,
the wishlist, the applied promo code and the order history.  ``generate(seed)`` builds it
deterministically.  Pages are server-rendered; forms post back and redirect (303) on success or
re-render with inline validation messages (``aria-invalid``) on error.
"""

from __future__ import annotations

import random
import re
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from envgym.envs.web.framework import WebApp, document, esc, field, form_data, money, options, pagination, qs
from envgym.envs.web.shop import data

PAGE_SIZE = 12


class Product(BaseModel):
    id: str
    name: str
    category: str
    brand: str
    price_cents: int
    rating: float
    reviews: int
    stock: int
    description: str
    colors: list[str] = Field(default_factory=list)
    sizes: list[str] = Field(default_factory=list)


class Address(BaseModel):
    full_name: str
    street: str
    city: str
    state: str
    zip: str
    country: str = "United States"


class CartLine(BaseModel):
    line_id: str
    product_id: str
    qty: int
    color: str = ""
    size: str = ""


class OrderLine(BaseModel):
    product_id: str
    name: str
    qty: int
    color: str = ""
    size: str = ""
    unit_price_cents: int


class Order(BaseModel):
    id: str
    date: str
    lines: list[OrderLine]
    shipping_address: Address
    shipping_method: Literal["standard", "express", "overnight"]
    card_last4: str
    card_name: str
    promo_code: str = ""
    subtotal_cents: int
    discount_cents: int = 0
    shipping_cents: int
    total_cents: int
    status: Literal["processing", "shipped", "delivered", "cancelled"] = "processing"


class Customer(BaseModel):
    name: str
    email: str
    saved_address: Address


class ShopState(BaseModel):
    seed: int = 0
    products: list[Product]
    customer: Customer
    cart: list[CartLine] = Field(default_factory=list)
    promo_code: str = ""
    wishlist: list[str] = Field(default_factory=list)
    orders: list[Order] = Field(default_factory=list)
    next_line: int = 1
    next_order: int = 1001


def totals(state: ShopState, lines: list[CartLine], promo: str, method: str) -> dict[str, int]:
    """Subtotal, discount (promo percent), shipping (standard is free from $50 after discount), total."""
    by_id = {p.id: p for p in state.products}
    subtotal = sum(by_id[l.product_id].price_cents * l.qty for l in lines if l.product_id in by_id)
    discount = subtotal * data.PROMO_CODES.get(promo, 0) // 100
    shipping = data.SHIPPING[method][1]
    if method == "standard" and subtotal - discount >= data.FREE_SHIPPING_CENTS:
        shipping = 0
    return {"subtotal": subtotal, "discount": discount, "shipping": shipping, "total": subtotal - discount + shipping}


def luhn_ok(number: str) -> bool:
    """Luhn checksum: double every second digit from the right, sum digits, total % 10 == 0."""
    digits = [int(c) for c in number]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


CSS = """
:root{--accent:#e4572e;--link:#1d5fa8;--bg:#f6f4f1}
.topbar{background:#1e2a38;color:#fff}.topbar .in{max-width:1180px;margin:0 auto;display:flex;align-items:center;gap:18px;padding:10px 20px}
.logo{font-size:1.45rem;font-weight:800;color:#fff;letter-spacing:-.02em}.logo span{color:#ffb347}
.searchbar{flex:1;display:flex;gap:0}.searchbar select{width:170px;border-radius:6px 0 0 6px;background:#eef0f3}
.searchbar input{border-radius:0;border-left:none}.searchbar button{border-radius:0 6px 6px 0;background:#ffb347;border-color:#ffb347;font-weight:700}
.toplinks a{color:#fff;margin-left:14px;font-weight:600}.cartcount{background:#e4572e;border-radius:10px;padding:0 7px;margin-left:4px;font-size:.8rem}
.catnav{background:#2b3a4d}.catnav .in{max-width:1180px;margin:0 auto;padding:6px 20px;display:flex;gap:20px}.catnav a{color:#dfe6ee;font-size:.92rem}
.wrap{max-width:1180px;margin:20px auto;padding:0 20px}
.layout{display:grid;grid-template-columns:230px 1fr;gap:22px}
.filters h3{font-size:.95rem;margin:14px 0 6px}.filters .row input{width:78px;min-width:0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(205px,1fr));gap:16px}
.pcard{background:#fff;border:1px solid #e6e1da;border-radius:10px;padding:12px;display:flex;flex-direction:column;gap:6px}
.thumb{height:130px;border-radius:8px;display:flex;align-items:center;justify-content:center;font-size:2rem;font-weight:800;color:rgba(255,255,255,.92)}
.price{font-size:1.15rem;font-weight:700;color:#b12704}.stars{color:#f0a500;font-size:.9rem}
.stock-low{color:#b35c00;font-weight:600}.stock-out{color:#d1242f;font-weight:600}.stock-ok{color:#137333}
.pdp{display:grid;grid-template-columns:420px 1fr;gap:30px}.pdp .thumb{height:360px;font-size:4rem}
.summary td{border:none;padding:4px 0}.summary .total td{font-weight:800;font-size:1.1rem;border-top:1px solid #ddd;padding-top:8px}
.checkout{display:grid;grid-template-columns:1fr 340px;gap:24px}.two{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.radio{display:flex;gap:8px;align-items:center;padding:10px;border:1px solid #ddd;border-radius:8px;margin-bottom:8px;background:#fff}
.breadcrumb{font-size:.85rem;margin-bottom:12px}.status-processing{background:#fff4d6;color:#8a5a00}.status-shipped{background:#e0efff;color:#0b4f9c}
.status-delivered{background:#e3f6e8;color:#176b36}.status-cancelled{background:#f3e3e3;color:#8f2323}
footer{color:#777;text-align:center;font-size:.8rem;padding:30px}
"""
THUMB_COLORS = ["#5b8def", "#e4572e", "#2bb673", "#9b5de5", "#f6a609", "#1e2a38", "#00a6a6", "#c2185b"]


class ShopApp(WebApp):
    name = "shop"
    State = ShopState

    # ------------------------------------------------------------------ data
    def generate(self, seed: int) -> ShopState:
        rng = random.Random(f"shop-{seed}")
        products = [Product(**p) for p in data.make_products(rng)]
        person = data.make_person(rng)
        customer = Customer(name=person["full_name"], email=person["full_name"].lower().replace(" ", ".") + "@example.com",
                            saved_address=Address(**person))
        state = ShopState(seed=seed, products=products, customer=customer)
        statuses = ["delivered", "delivered", "shipped", "processing", "processing"]
        for i, status in enumerate(statuses):
            picks = rng.sample(products, rng.randint(1, 3))
            lines = [OrderLine(product_id=p.id, name=p.name, qty=rng.randint(1, 2), unit_price_cents=p.price_cents,
                               color=p.colors[0] if p.colors else "", size=p.sizes[2] if p.sizes else "") for p in picks]
            method = rng.choice(["standard", "express"])
            cart = [CartLine(line_id="x", product_id=l.product_id, qty=l.qty) for l in lines]
            t = totals(state, cart, "", method)
            state.orders.append(Order(
                id=f"W{state.next_order}", date=f"2024-0{2 + i}-{rng.randint(10, 28)}", lines=lines,
                shipping_address=customer.saved_address, shipping_method=method, card_last4="4242",
                card_name=customer.name, subtotal_cents=t["subtotal"], shipping_cents=t["shipping"],
                total_cents=t["total"], status=status))
            state.next_order += 1
        return state

    def product(self, pid: str) -> Product | None:
        return next((p for p in self.state.products if p.id == pid), None)

    # ------------------------------------------------------------------ layout
    def page(self, title: str, body: str, q: str = "", category: str = "", script: str = "") -> HTMLResponse:
        s = self.state
        count = sum(l.qty for l in s.cart)
        cats = "".join(f'<a id="cat-{slug}" href="/search{qs(category=slug)}">{esc(c["label"])}</a>'
                       for slug, c in data.CATEGORIES.items())
        cat_opts = options([("", "All departments")] + [(k, v["label"]) for k, v in data.CATEGORIES.items()], category)
        header = f"""
<header class="topbar"><div class="in">
  <a class="logo" id="home-link" href="/" aria-label="Lumen Market home">Lumen<span>Market</span></a>
  <form class="searchbar" role="search" action="/search" method="get">
    <select id="search-category" name="category" aria-label="Department">{cat_opts}</select>
    <input id="search-input" type="search" name="q" value="{esc(q)}" placeholder="Search Lumen Market" aria-label="Search">
    <button id="search-button" type="submit">Search</button>
  </form>
  <nav class="toplinks" aria-label="Account">
    <a id="nav-orders" href="/orders">Orders</a><a id="nav-wishlist" href="/wishlist">Wishlist</a>
    <a id="nav-cart" href="/cart" aria-label="Cart, {count} item{'s' if count != 1 else ''}">Cart<span class="cartcount">{count}</span></a>
  </nav></div></header>
<nav class="catnav" aria-label="Departments"><div class="in">{cats}</div></nav>"""
        footer = (f'<footer>Signed in as {esc(s.customer.name)} · © 2024 Lumen Market · Prices in USD · '
                  f'<a id="footer-help" href="/help" target="_blank" rel="noopener">Help center</a> · '
                  f'<a id="footer-social" href="https://social.example.com/lumenmarket">Follow us</a></footer>')
        return HTMLResponse(document(f"{title} | Lumen Market", header + f'<main class="wrap">{body}</main>' + footer,
                                     CSS, script))

    def thumb(self, p: Product) -> str:
        color = THUMB_COLORS[int(p.id[1:]) % len(THUMB_COLORS)]
        initials = "".join(w[0] for w in p.name.split()[:2] if w[0].isalnum())
        return f'<div class="thumb" style="background:{color}" role="img" aria-label="Photo of {esc(p.name)}">{esc(initials)}</div>'

    @staticmethod
    def stars(p: Product) -> str:
        full = int(round(p.rating))
        return f'<span class="stars" aria-label="{p.rating} out of 5 stars">{"★" * full}{"☆" * (5 - full)}</span> <span class="small muted">{p.rating} ({p.reviews:,})</span>'

    @staticmethod
    def stock(p: Product) -> str:
        if p.stock == 0:
            return '<span class="stock-out">Out of stock</span>'
        if p.stock <= 3:
            return f'<span class="stock-low">Only {p.stock} left in stock</span>'
        return '<span class="stock-ok">In stock</span>'

    def card(self, p: Product) -> str:
        quick = ""
        if not p.colors and not p.sizes and p.stock > 0:
            quick = (f'<form method="post" action="/cart/add"><input type="hidden" name="product_id" value="{p.id}">'
                     f'<input type="hidden" name="qty" value="1"><button id="quick-add-{p.id}" type="submit">Add to cart</button></form>')
        return (f'<article class="pcard" aria-label="{esc(p.name)}">{self.thumb(p)}'
                f'<a id="product-{p.id}" href="/product/{p.id}"><b>{esc(p.name)}</b></a>'
                f'<div class="price">{money(p.price_cents)}</div>{self.stars(p)}<div class="small">{self.stock(p)}</div>{quick}</article>')

    # ------------------------------------------------------------------ routes
    def routes(self) -> list[Any]:
        return [
            Route("/", self.home), Route("/search", self.search), Route("/product/{pid}", self.product_page),
            Route("/cart", self.cart_page), Route("/cart/add", self.cart_add, methods=["POST"]),
            Route("/cart/update", self.cart_update, methods=["POST"]),
            Route("/cart/remove", self.cart_remove, methods=["POST"]),
            Route("/cart/promo", self.cart_promo, methods=["POST"]),
            Route("/checkout", self.checkout, methods=["GET", "POST"]),
            Route("/orders", self.orders_page), Route("/orders/{oid}", self.order_page),
            Route("/orders/{oid}/cancel", self.order_cancel, methods=["POST"]),
            Route("/wishlist", self.wishlist_page), Route("/help", self.help_page), Route("/wishlist/add", self.wishlist_add, methods=["POST"]),
            Route("/wishlist/remove", self.wishlist_remove, methods=["POST"]),
        ]

    async def home(self, request: Any) -> Response:
        with self.lock:
            s = self.state
            featured = sorted(s.products, key=lambda p: (-p.reviews, p.id))[:8]
            body = ('<section class="card" style="background:linear-gradient(90deg,#1e2a38,#3d5a80);color:#fff;margin-bottom:20px">'
                    '<h1 style="margin:0 0 6px">Summer Sale — up to 20% off</h1><p style="margin:0">Use code <b>SPRING20</b> at checkout. '
                    'Free standard shipping on orders over $50.</p></section>'
                    f'<h2>Popular right now</h2><div class="grid">{"".join(self.card(p) for p in featured)}</div>')
            return self.page("Home", body)

    async def search(self, request: Any) -> Response:
        p = request.query_params
        q, category, sort = p.get("q", "").strip(), p.get("category", ""), p.get("sort", "relevance")
        min_s, max_s = p.get("min", "").strip(), p.get("max", "").strip()
        in_stock = p.get("in_stock") == "1"
        try:
            page = max(1, int(p.get("page", "1")))
        except ValueError:
            page = 1
        errors = []

        def dollars(text: str, label: str) -> int | None:
            if not text:
                return None
            try:
                return int(round(float(text.replace("$", "").replace(",", "")) * 100))
            except ValueError:
                errors.append(f"{label} price must be a number")
                return None

        lo, hi = dollars(min_s, "Minimum"), dollars(max_s, "Maximum")
        with self.lock:
            items = list(self.state.products)
            if category in data.CATEGORIES:
                items = [x for x in items if x.category == category]
            if q:
                words = q.lower().split()
                items = [x for x in items if all(w in f"{x.name} {x.brand} {x.category}".lower() for w in words)]
            if lo is not None:
                items = [x for x in items if x.price_cents >= lo]
            if hi is not None:
                items = [x for x in items if x.price_cents <= hi]
            if in_stock:
                items = [x for x in items if x.stock > 0]
            key = {"price-asc": lambda x: (x.price_cents, x.id), "price-desc": lambda x: (-x.price_cents, x.id),
                   "rating": lambda x: (-x.rating, x.id), "name": lambda x: (x.name, x.id)}.get(sort)
            items = sorted(items, key=key) if key else items
            pages = max(1, -(-len(items) // PAGE_SIZE))
            page = min(page, pages)
            shown = items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
            params = {"q": q, "category": category, "sort": sort if sort != "relevance" else "", "min": min_s, "max": max_s,
                      "in_stock": "1" if in_stock else ""}
            cat_links = "".join(
                f'<li><a id="filter-cat-{slug}" href="/search{qs(**{**params, "category": slug})}"'
                f'{" aria-current=true" if slug == category else ""}>{esc(c["label"])}</a></li>'
                for slug, c in data.CATEGORIES.items())
            sort_opts = options([("relevance", "Featured"), ("price-asc", "Price: Low to High"),
                                 ("price-desc", "Price: High to Low"), ("rating", "Avg. Customer Review"),
                                 ("name", "Name: A to Z")], sort)
            label = data.CATEGORIES.get(category, {}).get("label", "All departments")
            err = "".join(f'<div class="alert alert-err" role="alert">{esc(e)}</div>' for e in errors)
            filters = f"""
<aside class="filters card" aria-label="Filters">
  <h3>Department</h3><ul style="padding-left:18px;margin:0"><li><a id="filter-cat-all" href="/search{qs(**{**params, 'category': ''})}">All departments</a></li>{cat_links}</ul>
  <form id="filter-form" method="get" action="/search">
    <input type="hidden" name="q" value="{esc(q)}"><input type="hidden" name="category" value="{esc(category)}">
    <input type="hidden" name="sort" value="{esc(sort)}">
    <h3>Price</h3><div class="row"><input id="filter-min" name="min" type="text" value="{esc(min_s)}" placeholder="$ Min" aria-label="Minimum price">
    <span>to</span><input id="filter-max" name="max" type="text" value="{esc(max_s)}" placeholder="$ Max" aria-label="Maximum price"></div>
    <h3>Availability</h3><label><input id="filter-in-stock" type="checkbox" name="in_stock" value="1"{" checked" if in_stock else ""}> Include only in-stock items</label>
    <div style="margin-top:12px"><button id="filter-apply" class="primary" type="submit">Apply filters</button></div>
  </form></aside>"""
            results = "".join(self.card(x) for x in shown) or '<p class="muted">No products match your search. Try fewer words or clear the filters.</p>'
            body = f"""{err}<div class="layout">{filters}<section aria-label="Results">
  <div class="row" style="margin-bottom:12px"><h1 class="grow" style="font-size:1.3rem;margin:0">{esc(label)}{(' — “' + esc(q) + '”') if q else ''}</h1>
  <span id="result-count" class="muted">{len(items)} result{'s' if len(items) != 1 else ''}</span>
  <form method="get" action="/search" class="row">{''.join(f'<input type="hidden" name="{k}" value="{esc(v)}">' for k, v in params.items() if k != 'sort' and v)}
    <label for="sort-select" class="small">Sort by</label><select id="sort-select" name="sort" style="width:190px" onchange="this.form.submit()">{sort_opts}</select></form></div>
  <div class="grid">{results}</div>{pagination('/search', page, pages, params)}</section></div>"""
            return self.page(f"Search: {q or label}", body, q=q, category=category)

    async def product_page(self, request: Any, error: dict | None = None, form: dict | None = None) -> Response:
        with self.lock:
            p = self.product(request.path_params["pid"])
            if p is None:
                return self.page("Not found", '<div class="card"><h1>Page not found</h1><p>We couldn’t find that product.</p><a href="/" id="back-home">Back to the homepage</a></div>')
            error, form = error or {}, form or {}
            cat = data.CATEGORIES[p.category]["label"]
            opts = ""
            if p.colors:
                opts += (f'<div class="field{" has-error" if "color" in error else ""}"><label for="opt-color">Color</label>'
                         f'<select id="opt-color" name="color"{" aria-invalid=true" if "color" in error else ""}>'
                         f'{options([("", "Select a color")] + [(c, c) for c in p.colors], form.get("color", ""))}</select>'
                         + (f'<div class="err" role="alert">{esc(error["color"])}</div>' if "color" in error else "") + "</div>")
            if p.sizes:
                opts += (f'<div class="field{" has-error" if "size" in error else ""}"><label for="opt-size">Size</label>'
                         f'<select id="opt-size" name="size"{" aria-invalid=true" if "size" in error else ""}>'
                         f'{options([("", "Select a size")] + [(z, z) for z in p.sizes], form.get("size", ""))}</select>'
                         + (f'<div class="err" role="alert">{esc(error["size"])}</div>' if "size" in error else "") + "</div>")
            disabled = " disabled" if p.stock == 0 else ""
            wished = p.id in self.state.wishlist
            body = f"""<nav class="breadcrumb" aria-label="Breadcrumb"><a id="crumb-home" href="/">Home</a> › <a id="crumb-cat" href="/search{qs(category=p.category)}">{esc(cat)}</a> › {esc(p.name)}</nav>
<div class="pdp">{self.thumb(p)}<div>
  <h1 style="margin-top:0">{esc(p.name)}</h1><div class="muted">Brand: {esc(p.brand)}</div>{self.stars(p)}
  <div class="price" style="font-size:1.6rem;margin:10px 0" id="product-price">{money(p.price_cents)}</div>
  <div>{self.stock(p)}</div><p>{esc(p.description)}</p>
  <form method="post" action="/cart/add" class="card" style="max-width:360px" novalidate>
    <input type="hidden" name="product_id" value="{p.id}">{opts}
    {field("qty", "Quantity", form.get("qty", "1"), type="number", error=error.get("qty", ""), extra='min="1" max="10" style="width:90px"')}
    <button id="add-to-cart" class="primary" type="submit"{disabled}>Add to cart</button>
  </form>
  <form method="post" action="/wishlist/add" style="margin-top:10px"><input type="hidden" name="product_id" value="{p.id}">
    <button id="add-to-wishlist" type="submit"{" disabled" if wished else ""}>{"♥ In your wishlist" if wished else "♡ Add to wishlist"}</button></form>
</div></div>"""
            return self.page(p.name, body)

    async def cart_add(self, request: Any) -> Response:
        form = await form_data(request)
        with self.lock:
            p = self.product(form.get("product_id", ""))
            if p is None:
                return RedirectResponse("/", status_code=303)
            error = {}
            if p.colors and form.get("color") not in p.colors:
                error["color"] = "Please select a color."
            if p.sizes and form.get("size") not in p.sizes:
                error["size"] = "Please select a size."
            try:
                qty = int(form.get("qty", "1"))
                if not 1 <= qty <= 10:
                    error["qty"] = "Quantity must be between 1 and 10."
                elif qty > p.stock:
                    error["qty"] = f"Only {p.stock} available." if p.stock else "This item is out of stock."
            except ValueError:
                error["qty"] = "Enter a whole number."
            if error:
                request.path_params["pid"] = p.id
                return await self.product_page(request, error, form)
            color, size = form.get("color", "") if p.colors else "", form.get("size", "") if p.sizes else ""
            s = self.state
            existing = next((l for l in s.cart if l.product_id == p.id and l.color == color and l.size == size), None)
            if existing:
                existing.qty = min(10, existing.qty + qty)
            else:
                s.cart.append(CartLine(line_id=f"L{s.next_line}", product_id=p.id, qty=qty, color=color, size=size))
                s.next_line += 1
            return RedirectResponse(f"/cart?added={p.id}", status_code=303)

    async def cart_page(self, request: Any, promo_error: str = "") -> Response:
        with self.lock:
            s = self.state
            added = self.product(request.query_params.get("added", ""))
            msg = request.query_params.get("msg", "")
            banner = f'<div class="alert alert-ok" role="status">Added “{esc(added.name)}” to your cart.</div>' if added else ""
            if msg:
                banner += f'<div class="alert alert-info" role="status">{esc(msg)}</div>'
            if not s.cart:
                return self.page("Cart", banner + '<div class="card"><h1>Your cart is empty</h1><p><a id="continue-shopping" href="/">Continue shopping</a></p></div>')
            rows = []
            for l in s.cart:
                p = self.product(l.product_id)
                opts = ", ".join(x for x in (l.color, l.size) if x)
                rows.append(f"""<tr><td><a id="cart-item-{l.line_id}" href="/product/{p.id}">{esc(p.name)}</a><div class="small muted">{esc(opts)}</div></td>
<td>{money(p.price_cents)}</td>
<td><form method="post" action="/cart/update" class="row" novalidate><input type="hidden" name="line_id" value="{l.line_id}">
<input id="qty-{l.line_id}" name="qty" type="number" min="0" max="10" value="{l.qty}" style="width:70px" aria-label="Quantity of {esc(p.name)}">
<button id="update-{l.line_id}" type="submit">Update</button></form></td>
<td>{money(p.price_cents * l.qty)}</td>
<td><form method="post" action="/cart/remove"><input type="hidden" name="line_id" value="{l.line_id}"><button id="remove-{l.line_id}" class="danger" type="submit" aria-label="Remove {esc(p.name)}">Remove</button></form></td></tr>""")
            t = totals(s, s.cart, s.promo_code, "standard")
            promo = (f'<div class="alert alert-ok">Promo <b>{esc(s.promo_code)}</b> applied: {data.PROMO_CODES[s.promo_code]}% off.</div>' if s.promo_code else "")
            body = f"""{banner}<h1>Shopping cart</h1><div class="checkout"><div>
<table aria-label="Cart items"><thead><tr><th>Item</th><th>Price</th><th>Quantity</th><th>Total</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>
<form method="post" action="/cart/promo" class="card row" style="margin-top:14px" novalidate>
  <div class="grow">{field("promo-code", "Promo code", "", name="code", error=promo_error, placeholder="Enter code")}</div>
  <button id="promo-apply" type="submit">Apply</button></form></div>
<aside class="card"><h2 style="margin-top:0">Order summary</h2>{promo}<table class="summary">
<tr><td>Subtotal</td><td id="cart-subtotal">{money(t['subtotal'])}</td></tr>
{f"<tr><td>Discount</td><td>−{money(t['discount'])}</td></tr>" if t['discount'] else ''}
<tr><td>Est. shipping</td><td>{'FREE' if t['shipping'] == 0 else money(t['shipping'])}</td></tr>
<tr class="total"><td>Total</td><td id="cart-total">{money(t['total'])}</td></tr></table>
<a id="checkout-button" class="btn btn-primary" style="display:block;text-align:center;margin-top:12px" href="/checkout">Proceed to checkout</a></aside></div>"""
            return self.page("Cart", body)

    async def cart_update(self, request: Any) -> Response:
        form = await form_data(request)
        with self.lock:
            line = next((l for l in self.state.cart if l.line_id == form.get("line_id")), None)
            if line is None:
                return RedirectResponse("/cart", status_code=303)
            try:
                qty = int(form.get("qty", ""))
            except ValueError:
                return RedirectResponse("/cart?msg=Quantity+must+be+a+whole+number.", status_code=303)
            p = self.product(line.product_id)
            if qty <= 0:
                self.state.cart.remove(line)
                return RedirectResponse("/cart?msg=Item+removed.", status_code=303)
            if qty > min(10, p.stock):
                return RedirectResponse(f"/cart{qs(msg=f'Only {min(10, p.stock)} of {p.name} can be ordered.')}", status_code=303)
            line.qty = qty
            return RedirectResponse("/cart?msg=Cart+updated.", status_code=303)

    async def cart_remove(self, request: Any) -> Response:
        form = await form_data(request)
        with self.lock:
            self.state.cart = [l for l in self.state.cart if l.line_id != form.get("line_id")]
            if not self.state.cart:
                self.state.promo_code = ""
        return RedirectResponse("/cart?msg=Item+removed.", status_code=303)

    async def cart_promo(self, request: Any) -> Response:
        form = await form_data(request)
        code = form.get("code", "").strip().upper()
        with self.lock:
            if code not in data.PROMO_CODES:
                return await self.cart_page(request, promo_error=f"“{code}” is not a valid promo code." if code else "Enter a promo code.")
            self.state.promo_code = code
        return RedirectResponse(f"/cart{qs(msg=f'Promo code {code} applied.')}", status_code=303)

    async def checkout(self, request: Any) -> Response:
        form = await form_data(request) if request.method == "POST" else {}
        with self.lock:
            s = self.state
            if not s.cart:
                return RedirectResponse("/cart", status_code=303)
            errors: dict[str, str] = {}
            if request.method == "POST":
                errors = self.validate_checkout(form)
                if not errors:
                    return self.place_order(form)
            method = form.get("method", "standard")
            t = totals(s, s.cart, s.promo_code, method if method in data.SHIPPING else "standard")
            f = lambda k: form.get(k, "")  # noqa: E731
            state_opts = options([("", "Select a state")] + data.US_STATES, f("state"))
            radios = "".join(
                f'<label class="radio" for="ship-{m}"><input id="ship-{m}" type="radio" name="method" value="{m}"{" checked" if m == method else ""}>'
                f'<span class="grow">{esc(label)}</span><b>{"FREE" if m == "standard" and t["subtotal"] - t["discount"] >= data.FREE_SHIPPING_CENTS else money(cost)}</b></label>'
                for m, (label, cost) in data.SHIPPING.items())
            summary_rows = "".join(f"<tr><td>{l.qty} × {esc(self.product(l.product_id).name)}</td><td>{money(self.product(l.product_id).price_cents * l.qty)}</td></tr>" for l in s.cart)
            banner = '<div class="alert alert-err" role="alert">Please correct the highlighted fields.</div>' if errors else ""
            a = s.customer.saved_address
            state_err = errors.get("state", "")
            body = f"""<h1>Checkout</h1>{banner}<form id="checkout-form" method="post" action="/checkout" class="checkout" novalidate><div>
<section class="card" aria-labelledby="h-ship"><div class="row"><h2 id="h-ship" class="grow" style="margin:0 0 10px">1. Shipping address</h2>
<button id="use-saved-address" type="button" data-name="{esc(a.full_name)}" data-street="{esc(a.street)}" data-city="{esc(a.city)}" data-state="{esc(a.state)}" data-zip="{esc(a.zip)}">Use saved address</button></div>
{field("ship-name", "Full name", f("full_name"), name="full_name", error=errors.get("full_name", ""), required=True)}
{field("ship-street", "Street address", f("street"), name="street", error=errors.get("street", ""), required=True)}
<div class="two">{field("ship-city", "City", f("city"), name="city", error=errors.get("city", ""), required=True)}
<div class="field{' has-error' if state_err else ''}"><label for="ship-state">State</label><select id="ship-state" name="state" required{' aria-invalid="true"' if state_err else ''}>{state_opts}</select>{f'<div class="err" role="alert">{esc(state_err)}</div>' if state_err else ''}</div></div>
{field("ship-zip", "ZIP code", f("zip"), name="zip", error=errors.get("zip", ""), required=True, extra='inputmode="numeric" style="width:140px"')}
</section>
<section class="card" style="margin-top:14px" aria-labelledby="h-method"><h2 id="h-method" style="margin-top:0">2. Shipping method</h2>{radios}</section>
<section class="card" style="margin-top:14px" aria-labelledby="h-pay"><h2 id="h-pay" style="margin-top:0">3. Payment</h2>
{field("card-name", "Name on card", f("card_name"), name="card_name", error=errors.get("card_name", ""), required=True)}
{field("card-number", "Card number", f("card_number"), name="card_number", error=errors.get("card_number", ""), required=True, placeholder="1234 5678 9012 3456", extra='inputmode="numeric" autocomplete="off"')}
<div class="two">{field("card-exp", "Expiration (MM/YY)", f("card_exp"), name="card_exp", error=errors.get("card_exp", ""), required=True, placeholder="MM/YY")}
{field("card-cvv", "Security code (CVV)", f("card_cvv"), name="card_cvv", error=errors.get("card_cvv", ""), required=True, extra='inputmode="numeric" autocomplete="off"')}</div>
</section></div>
<aside class="card" style="align-self:start"><h2 style="margin-top:0">Order summary</h2><table class="summary">{summary_rows}
<tr><td>Subtotal</td><td>{money(t['subtotal'])}</td></tr>{f"<tr><td>Promo {esc(s.promo_code)}</td><td>−{money(t['discount'])}</td></tr>" if t['discount'] else ''}
<tr class="total"><td>Total before shipping</td><td>{money(t['subtotal'] - t['discount'])}</td></tr></table>
<button id="place-order" class="primary" type="submit" style="width:100%;margin-top:12px">Place your order</button>
<p class="small muted">By placing your order you agree to Lumen Market’s conditions of use.</p></aside></form>"""
            script = """document.getElementById('use-saved-address').addEventListener('click',function(){var d=this.dataset;
document.getElementById('ship-name').value=d.name;document.getElementById('ship-street').value=d.street;document.getElementById('ship-city').value=d.city;
document.getElementById('ship-state').value=d.state;document.getElementById('ship-zip').value=d.zip;});"""
            return self.page("Checkout", body, script=script)

    def validate_checkout(self, form: dict[str, str]) -> dict[str, str]:
        errors = {}
        for key, label in (("full_name", "Full name"), ("street", "Street address"), ("city", "City"), ("card_name", "Name on card")):
            if not form.get(key, "").strip():
                errors[key] = f"{label} is required."
        if form.get("state") not in dict(data.US_STATES):
            errors["state"] = "Select a state."
        if not re.fullmatch(r"\d{5}", form.get("zip", "").strip()):
            errors["zip"] = "Enter a 5-digit ZIP code."
        if form.get("method") not in data.SHIPPING:
            errors["method"] = "Choose a shipping method."
        number = re.sub(r"[\s-]", "", form.get("card_number", ""))
        if not re.fullmatch(r"\d{16}", number):
            errors["card_number"] = "Card number must have 16 digits."
        elif not luhn_ok(number):
            errors["card_number"] = "This card number is not valid. Check the digits and try again."
        exp = re.fullmatch(r"(\d{2})\s*/\s*(\d{2})", form.get("card_exp", "").strip())
        if not exp or not 1 <= int(exp.group(1)) <= 12:
            errors["card_exp"] = "Use the format MM/YY."
        elif (2000 + int(exp.group(2)), int(exp.group(1))) < (2024, 6):
            errors["card_exp"] = "This card has expired."
        if not re.fullmatch(r"\d{3,4}", form.get("card_cvv", "").strip()):
            errors["card_cvv"] = "Enter the 3- or 4-digit security code."
        return errors

    def place_order(self, form: dict[str, str]) -> Response:
        s = self.state
        method = form["method"]
        t = totals(s, s.cart, s.promo_code, method)
        lines = []
        for l in s.cart:
            p = self.product(l.product_id)
            lines.append(OrderLine(product_id=p.id, name=p.name, qty=l.qty, color=l.color, size=l.size, unit_price_cents=p.price_cents))
            p.stock = max(0, p.stock - l.qty)
        order = Order(id=f"W{s.next_order}", date=data.TODAY, lines=lines,
                      shipping_address=Address(full_name=form["full_name"].strip(), street=form["street"].strip(),
                                               city=form["city"].strip(), state=form["state"], zip=form["zip"].strip()),
                      shipping_method=method, card_last4=re.sub(r"\D", "", form["card_number"])[-4:],
                      card_name=form["card_name"].strip(), promo_code=s.promo_code, subtotal_cents=t["subtotal"],
                      discount_cents=t["discount"], shipping_cents=t["shipping"], total_cents=t["total"])
        s.orders.append(order)
        s.next_order += 1
        s.cart, s.promo_code = [], ""
        return RedirectResponse(f"/orders/{order.id}?placed=1", status_code=303)

    async def orders_page(self, request: Any) -> Response:
        with self.lock:
            rows = "".join(
                f'<tr><td><a id="order-{o.id}" href="/orders/{o.id}">{o.id}</a></td><td>{o.date}</td>'
                f'<td>{esc(", ".join(l.name for l in o.lines))}</td><td>{money(o.total_cents)}</td>'
                f'<td><span class="badge status-{o.status}">{o.status.title()}</span></td></tr>'
                for o in reversed(self.state.orders))
            body = (f'<h1>Your orders</h1><table aria-label="Orders"><thead><tr><th>Order</th><th>Placed</th><th>Items</th>'
                    f'<th>Total</th><th>Status</th></tr></thead><tbody>{rows}</tbody></table>')
            return self.page("Your orders", body)

    async def order_page(self, request: Any) -> Response:
        with self.lock:
            o = next((x for x in self.state.orders if x.id == request.path_params["oid"]), None)
            if o is None:
                return self.page("Not found", '<div class="card"><h1>Order not found</h1><a id="back-orders" href="/orders">Back to your orders</a></div>')
            banner = ""
            if request.query_params.get("placed"):
                banner = f'<div class="alert alert-ok" role="status">Thank you! Your order {o.id} has been placed.</div>'
            if request.query_params.get("cancelled"):
                banner = f'<div class="alert alert-info" role="status">Order {o.id} was cancelled. You have not been charged.</div>'
            lines = "".join(f'<tr><td>{esc(l.name)}<div class="small muted">{esc(", ".join(x for x in (l.color, l.size) if x))}</div></td>'
                            f'<td>{l.qty}</td><td>{money(l.unit_price_cents)}</td><td>{money(l.unit_price_cents * l.qty)}</td></tr>' for l in o.lines)
            a = o.shipping_address
            cancel = ""
            if o.status == "processing":
                cancel = (f'<form method="post" action="/orders/{o.id}/cancel" onsubmit="return confirm(\'Cancel order {o.id}? This cannot be undone.\')">'
                          f'<button id="cancel-order" class="danger" type="submit">Cancel order</button></form>')
            body = f"""{banner}<div class="breadcrumb"><a id="crumb-orders" href="/orders">Your orders</a> › {o.id}</div>
<div class="row"><h1 class="grow">Order {o.id}</h1><span class="badge status-{o.status}" id="order-status">{o.status.title()}</span></div>
<div class="checkout"><div><table aria-label="Items"><thead><tr><th>Item</th><th>Qty</th><th>Price</th><th>Total</th></tr></thead><tbody>{lines}</tbody></table></div>
<aside class="card"><h2 style="margin-top:0">Details</h2><p><b>Placed:</b> {o.date}<br><b>Ship to:</b> {esc(a.full_name)}, {esc(a.street)}, {esc(a.city)}, {esc(a.state)} {esc(a.zip)}<br>
<b>Shipping:</b> {esc(data.SHIPPING[o.shipping_method][0])}<br><b>Paid with:</b> card ending in {o.card_last4}</p>
<table class="summary"><tr><td>Subtotal</td><td>{money(o.subtotal_cents)}</td></tr>{f"<tr><td>Promo {esc(o.promo_code)}</td><td>−{money(o.discount_cents)}</td></tr>" if o.discount_cents else ''}
<tr><td>Shipping</td><td>{money(o.shipping_cents)}</td></tr><tr class="total"><td>Order total</td><td id="order-total">{money(o.total_cents)}</td></tr></table>{cancel}</aside></div>"""
            return self.page(f"Order {o.id}", body)

    async def order_cancel(self, request: Any) -> Response:
        with self.lock:
            o = next((x for x in self.state.orders if x.id == request.path_params["oid"]), None)
            if o is None or o.status != "processing":
                return RedirectResponse("/orders", status_code=303)
            o.status = "cancelled"
            return RedirectResponse(f"/orders/{o.id}?cancelled=1", status_code=303)

    async def help_page(self, request: Any) -> Response:
        with self.lock:
            body = ('<div class="card"><h1>Help center</h1><h2>Returns</h2><p>Items can be returned within 30 days of delivery.</p>'
                    '<h2>Shipping</h2><p>Standard shipping is free on orders over $50 (after discounts). Express takes 2 business days.</p>'
                    '<h2>Cancellations</h2><p>Orders can be cancelled while they are still processing, from the order page.</p></div>')
            return self.page("Help center", body)

    async def wishlist_page(self, request: Any) -> Response:
        with self.lock:
            items = [self.product(pid) for pid in self.state.wishlist if self.product(pid)]
            rows = "".join(f'<tr><td><a id="wish-{p.id}" href="/product/{p.id}">{esc(p.name)}</a></td><td>{money(p.price_cents)}</td><td>{self.stock(p)}</td>'
                           f'<td><form method="post" action="/wishlist/remove"><input type="hidden" name="product_id" value="{p.id}">'
                           f'<button id="wish-remove-{p.id}" type="submit">Remove</button></form></td></tr>' for p in items)
            body = ('<h1>Your wishlist</h1>' + (f'<table aria-label="Wishlist"><tbody>{rows}</tbody></table>' if rows else '<p class="muted">Your wishlist is empty.</p>'))
            return self.page("Wishlist", body)

    async def wishlist_add(self, request: Any) -> Response:
        form = await form_data(request)
        with self.lock:
            pid = form.get("product_id", "")
            if self.product(pid) and pid not in self.state.wishlist:
                self.state.wishlist.append(pid)
        return RedirectResponse("/wishlist", status_code=303)

    async def wishlist_remove(self, request: Any) -> Response:
        form = await form_data(request)
        with self.lock:
            self.state.wishlist = [x for x in self.state.wishlist if x != form.get("product_id")]
        return RedirectResponse("/wishlist", status_code=303)
