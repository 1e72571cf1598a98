"""Shop tasks: buy (one, two, several, the cart), add to cart, remove, wishlist, questions."""

from __future__ import annotations

import random
from typing import Any

from mulligan.envs.gui.generate import ADDRESSES
from mulligan.envs.gui.tasks import Spec, Stage, click, question, type_into
from mulligan.envs.gui.world import SHIPPING, World, items_text, money

APP = "Shop"
SHOP = (("push", "shop"),)
CART = SHOP + (("push", "shop/cart"),)
CHECKOUT = CART + (("push", "shop/checkout"),)


def product(name: str) -> tuple:
    return SHOP + (("push", "shop/product", name),)


def cart_stages(world: World, want: dict[str, int]) -> list[Stage]:
    """Stages that make the cart hold exactly ``want``: remove what differs, then add what is missing."""
    stages = [Stage(f"remove {name} from the cart", CART, (click(("remove", name)),),
                    lambda w, name=name: name not in w.cart)
              for name, qty in sorted(world.cart.items()) if want.get(name) != qty]
    for name, qty in sorted(want.items()):
        if world.cart.get(name) != qty:
            plus = click(("qty", 1), done=lambda w, qty=qty: w.top.form.get("qty", 1) >= qty)
            stages.append(Stage(f"add {qty} x {name} to the cart", product(name),
                                (plus, click(("add_to_cart", name))),
                                lambda w, name=name, qty=qty: w.cart.get(name) == qty))
    return stages


def _buy(rng: random.Random, world: World, want: dict[str, int], goal: str, combo: str) -> Spec:
    shipping, address = rng.choice(SHIPPING), rng.choice(ADDRESSES)
    items = items_text(want)
    effect = {"kind": "pay", "items": items, "shipping": shipping, "address": address}
    done = lambda w: effect in w.orders  # noqa: E731
    ship = click(("ship", "shipping", shipping), done=lambda w: w.top.form.get("shipping") == shipping)
    pay = Stage("pay", CHECKOUT, (type_into("address", address), ship, click(("pay",))), done)
    goal = f"{goal} with {shipping.lower()} shipping to {address}."
    slots = {"allows": ("pay",), "items": items, "shipping": shipping, "address": address}
    return Spec(goal, slots, f"{combo}|{shipping}", done, lambda w: cart_stages(w, want) + [pay])


def buy_one(rng: random.Random, world: World) -> Spec:
    p, other = rng.sample(world.products, 2)
    if rng.random() < 0.5:
        world.cart[other.name] = 1
    return _buy(rng, world, {p.name: 1}, f'Buy one "{p.name}" and nothing else,', p.name)


def buy_two(rng: random.Random, world: World) -> Spec:
    p, q = sorted(rng.sample(world.products, 2), key=lambda x: x.name)
    return _buy(rng, world, {p.name: 1, q.name: 1}, f'Buy one "{p.name}" and one "{q.name}"', f"{p.name}|{q.name}")


def buy_many(rng: random.Random, world: World) -> Spec:
    p, n = rng.choice(world.products), rng.randint(2, 4)
    return _buy(rng, world, {p.name: n}, f'Buy {n} of "{p.name}"', p.name)


def checkout_cart(rng: random.Random, world: World) -> Spec:
    for p in rng.sample(world.products, 2):
        world.cart[p.name] = rng.randint(1, 2)
    want = dict(world.cart)
    return _buy(rng, world, want, f"Check out the cart ({items_text(want)})", items_text(want))


def add_to_cart(rng: random.Random, world: World) -> Spec:
    p, n = rng.choice(world.products), rng.randint(1, 3)
    done = lambda w: w.cart == {p.name: n}  # noqa: E731
    return Spec(f'Add {n} of "{p.name}" to the cart, without checking out.', {"allows": ()}, p.name, done,
                lambda w: cart_stages(w, {p.name: n}))


def remove_from_cart(rng: random.Random, world: World) -> Spec:
    chosen = rng.sample(world.products, 3)
    for p in chosen:
        world.cart[p.name] = 1
    gone = chosen[0].name
    want = {p.name: 1 for p in chosen[1:]}
    done = lambda w: w.cart == want  # noqa: E731
    return Spec(f'Remove "{gone}" from the cart.', {"allows": ()}, gone, done, lambda w: cart_stages(w, want))


def wishlist(rng: random.Random, world: World) -> Spec:
    p = rng.choice(world.products)
    done = lambda w: p.name in w.wishlist  # noqa: E731
    stage = Stage("add it to the wishlist", product(p.name), (click(("wishlist", p.name)),), done)
    return Spec(f'Add "{p.name}" to the wishlist.', {"allows": ()}, p.name, done, lambda w: [stage])


def ask_price(rng: random.Random, world: World) -> Spec:
    p = rng.choice(world.products)
    return Spec(combo=p.name, **question(f'How much does "{p.name}" cost?', p.price, product(p.name)))


def ask_total(rng: random.Random, world: World) -> Spec:
    for p in rng.sample(world.products, 2):
        world.cart[p.name] = rng.randint(1, 3)
    return Spec(combo=world.cart_items(),
                **question("What is the total of the cart?", money(world.cart_total()), CART))


TEMPLATES: dict[str, Any] = {
    "buy_one": buy_one, "buy_two": buy_two, "buy_many": buy_many, "checkout_cart": checkout_cart,
    "add_to_cart": add_to_cart, "remove_from_cart": remove_from_cart, "wishlist": wishlist,
    "ask_price": ask_price, "ask_total": ask_total,
}
