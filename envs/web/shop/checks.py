"""The shop's task checker: ``check(params, initial, final, answer) -> (score, components)``.

``params["type"]`` selects the check; every check also verifies that nothing else changed that the
task did not ask for (no stray orders, cart or wishlist edits), so a reward can only come from the
requested effect.
"""

from __future__ import annotations

from typing import Any

from envgym.envs.web.checking import answer_matches, norm, result


def _line_key(line: dict) -> tuple:
    return (line["product_id"], int(line["qty"]), line.get("color", ""), line.get("size", ""))


def _new_orders(initial: dict, final: dict) -> list[dict]:
    before = {o["id"] for o in initial["orders"]}
    return [o for o in final["orders"] if o["id"] not in before]


def _old_orders_unchanged(initial: dict, final: dict, except_id: str | None = None) -> bool:
    now = {o["id"]: o for o in final["orders"]}
    return all(now.get(o["id"]) == o for o in initial["orders"] if o["id"] != except_id)


def check(params: dict[str, Any], initial: dict, final: dict, answer: str) -> tuple[float, dict[str, Any]]:
    kind = params.get("type")
    no_orders = not _new_orders(initial, final) and _old_orders_unchanged(initial, final)
    if kind == "answer":
        return result({"answer_correct": answer_matches(answer, params["expected"]), "no_orders_changed": no_orders})
    if kind == "cart_line":
        want = (params["product_id"], int(params["qty"]), params.get("color", ""), params.get("size", ""))
        lines = [line for line in final["cart"] if line["product_id"] == params["product_id"]]
        others_before = sorted(_line_key(line) for line in initial["cart"] if line["product_id"] != params["product_id"])
        others_after = sorted(_line_key(line) for line in final["cart"] if line["product_id"] != params["product_id"])
        return result({"line_in_cart": [_line_key(line) for line in lines] == [want],
                       "other_lines_unchanged": others_before == others_after, "no_orders_changed": no_orders})
    if kind == "cart_removed":
        others = lambda s: sorted(_line_key(line) for line in s["cart"] if line["product_id"] != params["product_id"])  # noqa: E731
        return result({"removed": all(line["product_id"] != params["product_id"] for line in final["cart"])
                       and any(line["product_id"] == params["product_id"] for line in initial["cart"]),
                       "other_lines_unchanged": others(initial) == others(final), "no_orders_changed": no_orders})
    if kind == "wishlist":
        return result({"in_wishlist": params["product_id"] in final["wishlist"] and params["product_id"] not in initial["wishlist"],
                       "cart_unchanged": initial["cart"] == final["cart"], "no_orders_changed": no_orders})
    if kind == "promo":
        return result({"promo_applied": final["promo_code"] == params["code"] and initial["promo_code"] != params["code"],
                       "cart_unchanged": sorted(map(_line_key, initial["cart"])) == sorted(map(_line_key, final["cart"])),
                       "no_orders_changed": no_orders})
    if kind == "cancel":
        before = next(o for o in initial["orders"] if o["id"] == params["order_id"])
        after = next((o for o in final["orders"] if o["id"] == params["order_id"]), None)
        return result({"was_open": before["status"] == "processing",
                       "cancelled": after is not None and after["status"] == "cancelled",
                       "other_orders_unchanged": _old_orders_unchanged(initial, final, params["order_id"])
                       and not _new_orders(initial, final)})
    if kind == "order_placed":
        new = _new_orders(initial, final)
        order = new[0] if len(new) == 1 else None
        components = {"exactly_one_new_order": order is not None,
                      "old_orders_unchanged": _old_orders_unchanged(initial, final)}
        if order is not None:
            components["items_match"] = sorted(map(_line_key, order["lines"])) == sorted(map(_line_key, params["lines"]))
            addr = initial["customer"]["saved_address"] if params["address"] == "saved" else params["address"]
            got = order["shipping_address"]
            components["address_matches"] = all(norm(got[k]) == norm(addr[k]) for k in ("full_name", "street", "city", "state", "zip"))
            components["shipping_method"] = order["shipping_method"] == params["method"]
            components["paid_with_card"] = order["card_last4"] == params["card_last4"]
            components["promo"] = order["promo_code"] == params.get("promo", "")
        return result(components)
    raise ValueError(f"unknown shop check type {kind!r}")
