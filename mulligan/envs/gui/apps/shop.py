"""Shop: products, a product page with a quantity, the cart, and checkout. Paying is irreversible."""

from __future__ import annotations

from typing import Any

from mulligan.envs.gui.widgets import Element, Screen, button, choices, listing, text, textbox
from mulligan.envs.gui.world import SHIPPING, Entry, World, money

NAME = "Shop"


def catalogue(world: World, entry: Entry) -> Screen:
    items = [Element("listitem", f"{p.name} - {p.price}", intent=("push", "shop/product", p.name))
             for p in world.products]
    count = sum(world.cart.values())
    return Screen(NAME, "Shop", [button(f"Cart ({count})", ("push", "shop/cart")),
                                 listing("Products", items, entry.scroll)])


def product(world: World, entry: Entry) -> Screen:
    p = world.product(entry.params[0])
    assert p is not None
    qty = entry.form["qty"]
    return Screen(NAME, p.name, [
        text(f"Price: {p.price}"), text(f"Category: {p.category}"),
        Element("group", "Quantity", children=[
            button("-", ("qty", -1), disabled=qty <= 1), text(f"Quantity: {qty}"), button("+", ("qty", 1))]),
        button("Add to cart", ("add_to_cart", p.name)),
        Element("toggle", "Wishlist", intent=("wishlist", p.name), checked=p.name in world.wishlist),
    ])


def cart(world: World, entry: Entry) -> Screen:
    rows = [Element("listitem", f"{name} x{qty} - {money(world.product(name).cents * qty)}",  # type: ignore
                    children=[button("Remove", ("remove", name))]) for name, qty in sorted(world.cart.items())]
    return Screen(NAME, "Cart", [
        Element("list", "Items", children=rows) if rows else text("Your cart is empty."),
        text(f"Total: {money(world.cart_total())}"),
        button("Checkout", ("push", "shop/checkout"), disabled=not world.cart),
    ])


def checkout(world: World, entry: Entry) -> Screen:
    form = entry.form
    effect = {"kind": "pay", "items": world.cart_items(), "shipping": form["shipping"],
              "address": form["address"].strip()}
    return Screen(NAME, "Checkout", [
        text(f"Items: {world.cart_items()}"), text(f"Total: {money(world.cart_total())}"),
        textbox("Address", "address", form["address"]),
        choices("Shipping", "shipping", SHIPPING, form["shipping"], intent="ship"),
        button("Pay now", ("pay",), irreversible=True, effect=effect,
               disabled=not (effect["address"] and world.cart)),
    ])


def quantity(world: World, delta: int) -> str:
    form = world.top.form
    form["qty"] = max(1, form["qty"] + delta)
    return f"Quantity: {form['qty']}."


def add_to_cart(world: World, name: str) -> str:
    qty = world.top.form["qty"]
    world.cart[name] = world.cart.get(name, 0) + qty
    return f"Added {qty} x {name} to the cart."


def wishlist(world: World, name: str) -> str:
    world.wishlist ^= {name}
    return f"{name} is {'on' if name in world.wishlist else 'off'} the wishlist."


def remove(world: World, name: str) -> str:
    world.cart.pop(name, None)
    return f"Removed {name} from the cart."


def ship(world: World, _field: str, option: str) -> str:
    world.top.form["shipping"] = option
    return f"Shipping: {option}."


def pay(world: World) -> str:
    world.orders.append(dict(world.effects[-1]))
    world.cart.clear()
    del world.stack[2:]
    return "Payment complete. Your order is on its way."


SCREENS: dict[str, Any] = {"shop": catalogue, "shop/product": product, "shop/cart": cart, "shop/checkout": checkout}
FORMS: dict[str, Any] = {"shop/product": lambda world, entry: {"qty": 1},
                         "shop/checkout": lambda world, entry: {"address": "", "shipping": SHIPPING[0]}}
HANDLERS: dict[str, Any] = {"qty": quantity, "add_to_cart": add_to_cart, "wishlist": wishlist, "remove": remove,
                            "ship": ship, "pay": pay}
