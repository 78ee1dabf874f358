"""Deterministic catalogue and account data for the shop, generated from a seed."""

from __future__ import annotations

import random

CATEGORIES: dict[str, dict] = {
    "electronics": {"label": "Electronics", "brands": ["Voltix", "Auralis", "Nimbus", "Kestrel"],
                    "nouns": ["Wireless Earbuds", "USB-C Charger", "Bluetooth Speaker", "Smart Watch", "Webcam",
                              "Mechanical Keyboard", "Wireless Mouse", "Power Bank", "Noise-Cancelling Headphones",
                              "HDMI Cable", "E-Reader", "Action Camera"],
                    "price": (1200, 24900), "colors": ["Black", "White", "Midnight Blue"]},
    "home": {"label": "Home & Kitchen", "brands": ["Hearthly", "Casa Nova", "Brightwell", "Oakridge"],
             "nouns": ["Ceramic Mug", "Chef's Knife", "French Press", "Cast Iron Skillet", "Cutting Board",
                       "Table Lamp", "Throw Blanket", "Spice Rack", "Electric Kettle", "Glass Food Containers",
                       "Bath Towel Set", "Scented Candle"],
             "price": (900, 12900), "colors": ["Sage", "Charcoal", "Ivory"]},
    "outdoors": {"label": "Outdoors", "brands": ["Trailmark", "Summit & Pine", "Riverstone"],
                 "nouns": ["Hiking Backpack", "Camping Tent", "Sleeping Bag", "Trekking Poles", "Headlamp",
                           "Water Bottle", "Camp Stove", "Folding Chair", "Rain Jacket", "Hammock"],
                 "price": (1500, 32900), "colors": ["Forest Green", "Slate", "Orange"]},
    "books": {"label": "Books", "brands": ["Harbor Press", "Lantern Books", "Quill House"],
              "nouns": ["The Quiet Orchard", "Atlas of Small Things", "Learning Python Deeply", "A Year of Soups",
                        "The Glass Navigator", "Field Guide to Birds", "Midnight at the Archive",
                        "Practical Woodworking", "The Last Cartographer", "Stars Over Lisbon"],
              "price": (899, 4599), "colors": []},
    "clothing": {"label": "Clothing", "brands": ["Northloom", "Fable & Co", "Urbanfolk"],
                 "nouns": ["Merino Sweater", "Denim Jacket", "Linen Shirt", "Running Shorts", "Wool Beanie",
                           "Chino Trousers", "Hooded Sweatshirt", "Graphic T-Shirt", "Puffer Vest", "Flannel Shirt"],
                 "price": (1500, 14900), "colors": ["Navy", "Heather Grey", "Olive", "Burgundy"],
                 "sizes": ["XS", "S", "M", "L", "XL"]},
    "toys": {"label": "Toys & Games", "brands": ["Playwise", "Tinker Tree", "Boardroom Games"],
             "nouns": ["Wooden Train Set", "1000-Piece Puzzle", "Strategy Board Game", "Building Blocks",
                       "Card Game", "Plush Bear", "Remote Control Car", "Science Kit", "Kite", "Marble Run"],
             "price": (799, 8999), "colors": []},
}
ADJECTIVES = ["Classic", "Pro", "Compact", "Deluxe", "Everyday", "Ultra", "Essential", "Premium", "Lite", "Original"]
US_STATES = [("AL", "Alabama"), ("AZ", "Arizona"), ("CA", "California"), ("CO", "Colorado"), ("FL", "Florida"),
             ("GA", "Georgia"), ("IL", "Illinois"), ("MA", "Massachusetts"), ("MI", "Michigan"), ("MN", "Minnesota"),
             ("NC", "North Carolina"), ("NJ", "New Jersey"), ("NY", "New York"), ("OH", "Ohio"), ("OR", "Oregon"),
             ("PA", "Pennsylvania"), ("TX", "Texas"), ("VA", "Virginia"), ("WA", "Washington"), ("WI", "Wisconsin")]
FIRST = ["Jordan", "Avery", "Riley", "Morgan", "Casey", "Taylor", "Jamie", "Quinn", "Rowan", "Sasha"]
LAST = ["Lee", "Patel", "Garcia", "Kim", "Nguyen", "Okafor", "Schmidt", "Rossi", "Silva", "Cohen"]
STREETS = ["Maple Ave", "Oak Street", "Harbor Road", "Pine Lane", "Cedar Court", "Elm Drive", "Lakeview Blvd"]
CITIES = [("Portland", "OR", "97205"), ("Austin", "TX", "73301"), ("Columbus", "OH", "43004"),
          ("Denver", "CO", "80202"), ("Raleigh", "NC", "27601"), ("Madison", "WI", "53703")]
PROMO_CODES = {"SAVE10": 10, "WELCOME15": 15, "SPRING20": 20}
SHIPPING = {"standard": ("Standard (5–7 days)", 599), "express": ("Express (2 days)", 1299),
            "overnight": ("Overnight", 2499)}
FREE_SHIPPING_CENTS = 5000
TODAY = "2024-06-15"


def make_products(rng: random.Random) -> list[dict]:
    products = []
    n = 1
    for slug, cat in CATEGORIES.items():
        nouns = list(cat["nouns"])
        rng.shuffle(nouns)
        for noun in nouns[: rng.randint(8, len(nouns))]:
            brand = rng.choice(cat["brands"])
            name = noun if slug == "books" else f"{brand} {rng.choice(ADJECTIVES)} {noun}"
            lo, hi = cat["price"]
            price = (rng.randint(lo, hi) // 100) * 100 + rng.choice([99, 49, 95, 0, 99])
            stock = rng.choice([0, 2, 3, 8, 15, 25, 40, 60]) if rng.random() < 0.9 else 0
            products.append({
                "id": f"P{n:03d}", "name": name, "category": slug, "brand": brand, "price_cents": price,
                "rating": round(rng.uniform(3.1, 4.9), 1), "reviews": rng.randint(3, 2400), "stock": stock,
                "description": f"The {name} from {brand}. " + rng.choice([
                    "Designed for everyday use and built to last.", "A customer favourite, now in new colours.",
                    "Thoughtfully made with sustainable materials.", "Backed by a two-year warranty.",
                    "Lightweight, durable and easy to care for."]),
                "colors": list(cat.get("colors", [])) if rng.random() < 0.8 else [],
                "sizes": list(cat.get("sizes", [])),
            })
            n += 1
    return products


def make_person(rng: random.Random) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, state, zip_code = rng.choice(CITIES)
    return {"full_name": f"{first} {last}", "street": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
            "city": city, "state": state, "zip": zip_code, "country": "United States"}
