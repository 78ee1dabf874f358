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
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from envgym.envs.web.framework import WebApp, form_data, qs
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
    subtotal = sum(by_id[line.product_id].price_cents * line.qty for line in lines if line.product_id in by_id)
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


THUMB_COLORS = ["#5b8def", "#e4572e", "#2bb673", "#9b5de5", "#f6a609", "#1e2a38", "#00a6a6", "#c2185b"]
SORTS = [("relevance", "Featured"), ("price-asc", "Price: Low to High"), ("price-desc", "Price: High to Low"),
         ("rating", "Avg. Customer Review"), ("name", "Name: A to Z")]


def thumb_color(product_id: str) -> str:
    """The photo placeholder's colour: by the number in ``P007``, else by the id's length."""
    digits = product_id[1:]
    return THUMB_COLORS[(int(digits) if digits.isdigit() else len(product_id)) % len(THUMB_COLORS)]


def initials(name: str) -> str:
    """``"Blue Ceramic Mug"`` → ``"BC"`` (letters and digits of the first two words)."""
    return "".join(w[0] for w in name.split()[:2] if w[0].isalnum())


class ShopApp(WebApp):
    name = "shop"
    State = ShopState
    template_globals = {
        "categories": data.CATEGORIES, "category_choices": [(k, v["label"]) for k, v in data.CATEGORIES.items()],
        "shipping": data.SHIPPING, "promo_codes": data.PROMO_CODES, "free_shipping_cents": data.FREE_SHIPPING_CENTS,
        "us_states": data.US_STATES, "thumb_color": thumb_color, "initials": initials,
        "full_stars": lambda rating: int(round(rating)),
    }

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
            cart = [CartLine(line_id="x", product_id=line.product_id, qty=line.qty) for line in lines]
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

    # ------------------------------------------------------------------ pages
    def page(self, template: str, title: str, **context: Any) -> Response:
        """``template`` in the shop's layout (header with search and cart, department bar, footer)."""
        return self.render(template, title=title, **context)

    def not_found(self, heading: str, text: str, back_id: str, back: str, back_label: str) -> Response:
        return self.page("not_found.html", "Not found", heading=heading, text=text, back_id=back_id, back=back,
                         back_label=back_label)

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
            featured = sorted(self.state.products, key=lambda p: (-p.reviews, p.id))[:8]
            return self.page("home.html", "Home", featured=featured)

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
            label = data.CATEGORIES.get(category, {}).get("label", "All departments")
            return self.page("search.html", f"Search: {q or label}", q=q, category=category, sort=sort, min_s=min_s,
                             max_s=max_s, in_stock=in_stock, errors=errors, params=params, label=label,
                             count=len(items), shown=shown, page=page, pages=pages, sorts=SORTS)

    async def product_page(self, request: Any, error: dict | None = None, form: dict | None = None) -> Response:
        with self.lock:
            p = self.product(request.path_params["pid"])
            if p is None:
                return self.not_found("Page not found", "We couldn’t find that product.", "back-home", "/",
                                      "Back to the homepage")
            return self.page("product.html", p.name, p=p, error=error or {}, form=form or {},
                             wished=p.id in self.state.wishlist)

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
            existing = next((cart_line for cart_line in s.cart if cart_line.product_id == p.id and cart_line.color == color and cart_line.size == size), None)
            if existing:
                existing.qty = min(10, existing.qty + qty)
            else:
                s.cart.append(CartLine(line_id=f"L{s.next_line}", product_id=p.id, qty=qty, color=color, size=size))
                s.next_line += 1
            return RedirectResponse(f"/cart?added={p.id}", status_code=303)

    async def cart_page(self, request: Any, promo_error: str = "") -> Response:
        with self.lock:
            s = self.state
            return self.page("cart.html", "Cart", added=self.product(request.query_params.get("added", "")),
                             msg=request.query_params.get("msg", ""), promo_error=promo_error,
                             lines=[(cart_line, self.product(cart_line.product_id)) for cart_line in s.cart],
                             t=totals(s, s.cart, s.promo_code, "standard"))

    async def cart_update(self, request: Any) -> Response:
        form = await form_data(request)
        with self.lock:
            line = next((cart_line for cart_line in self.state.cart if cart_line.line_id == form.get("line_id")), None)
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
            self.state.cart = [cart_line for cart_line in self.state.cart if cart_line.line_id != form.get("line_id")]
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
            return self.page("checkout.html", "Checkout", form=form, errors=errors, method=method, t=t,
                             lines=[(cart_line, self.product(cart_line.product_id)) for cart_line in s.cart])

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
        for cart_line in s.cart:
            p = self.product(cart_line.product_id)
            lines.append(OrderLine(product_id=p.id, name=p.name, qty=cart_line.qty, color=cart_line.color, size=cart_line.size, unit_price_cents=p.price_cents))
            p.stock = max(0, p.stock - cart_line.qty)
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
            return self.page("orders.html", "Your orders")

    async def order_page(self, request: Any) -> Response:
        with self.lock:
            o = next((x for x in self.state.orders if x.id == request.path_params["oid"]), None)
            if o is None:
                return self.not_found("Order not found", "", "back-orders", "/orders", "Back to your orders")
            return self.page("order.html", f"Order {o.id}", o=o, placed=bool(request.query_params.get("placed")),
                             cancelled=bool(request.query_params.get("cancelled")))

    async def order_cancel(self, request: Any) -> Response:
        with self.lock:
            o = next((x for x in self.state.orders if x.id == request.path_params["oid"]), None)
            if o is None or o.status != "processing":
                return RedirectResponse("/orders", status_code=303)
            o.status = "cancelled"
            return RedirectResponse(f"/orders/{o.id}?cancelled=1", status_code=303)

    async def help_page(self, request: Any) -> Response:
        with self.lock:
            return self.page("help.html", "Help center")

    async def wishlist_page(self, request: Any) -> Response:
        with self.lock:
            items = [self.product(pid) for pid in self.state.wishlist if self.product(pid)]
            return self.page("wishlist.html", "Wishlist", items=items)

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
