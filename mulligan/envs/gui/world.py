"""The phone's state: what every app holds, and the stack of open screens.

Apps read and change this state; screens are drawn from it. It is plain data, so an episode can
be copied (``copy.deepcopy``) for look-ahead critics and experts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TOGGLES = ("Wi-Fi", "Bluetooth", "Airplane mode", "Location", "Dark mode")
CHOICES = {
    "Brightness": ("Low", "Medium", "High", "Auto"),
    "Font size": ("Small", "Default", "Large", "Huge"),
    "Volume": ("Mute", "Low", "Medium", "High"),
}
RINGTONES = ("Beacon", "Bulletin", "Chimes", "Cosmic", "Harp", "Illuminate", "Marimba", "Presto",
             "Radar", "Ripples", "Sencha", "Twinkle")
SHIPPING = ("Standard", "Express", "Overnight")
DEFAULT_SETTINGS: dict[str, Any] = {
    "Wi-Fi": True, "Bluetooth": False, "Airplane mode": False, "Location": True, "Dark mode": False,
    "Brightness": "Auto", "Font size": "Default", "Volume": "Medium", "Ringtone": "Marimba",
}


@dataclass
class Mail:
    id: int
    sender: str
    subject: str
    body: str
    unread: bool = False
    starred: bool = False
    folder: str = "inbox"


@dataclass
class Product:
    name: str
    category: str
    cents: int

    @property
    def price(self) -> str:
        return money(self.cents)


@dataclass
class Note:
    id: int
    title: str
    body: str
    pinned: bool = False


@dataclass
class Entry:
    """One open screen: its key (``"mail/message"``), parameters, the click that opened it,
    the scroll position of its list, and the values of its form."""

    key: str
    params: tuple[Any, ...] = ()
    opened_by: tuple[Any, ...] | None = None
    scroll: int = 0
    form: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    """Everything the phone holds.

    Attributes:
        settings: Toggle and choice values by name, plus ``"Account name"``.
        mails: The mailbox, newest first (archived mails stay, in folder ``archive``).
        sent: Mails sent, as ``{"to", "subject", "body"}``.
        products: The shop's catalogue.
        cart: Product name -> quantity.
        wishlist: Product names.
        orders: Orders paid, as the effect of paying.
        notes: The notes.
        stack: The open screens; ``stack[0]`` is the home screen.
        effects: Every irreversible effect that happened, in order.
    """

    settings: dict[str, Any]
    mails: list[Mail]
    products: list[Product]
    notes: list[Note]
    cart: dict[str, int] = field(default_factory=dict)
    wishlist: set[str] = field(default_factory=set)
    sent: list[dict[str, str]] = field(default_factory=list)
    orders: list[dict[str, str]] = field(default_factory=list)
    stack: list[Entry] = field(default_factory=lambda: [Entry("home")])
    effects: list[dict[str, str]] = field(default_factory=list)

    @property
    def top(self) -> Entry:
        return self.stack[-1]

    def inbox(self) -> list[Mail]:
        return [m for m in self.mails if m.folder == "inbox"]

    def mail(self, mail_id: int) -> Mail | None:
        return next((m for m in self.mails if m.id == mail_id), None)

    def note(self, note_id: int) -> Note | None:
        return next((n for n in self.notes if n.id == note_id), None)

    def note_titled(self, title: str) -> Note | None:
        return next((n for n in self.notes if n.title == title), None)

    def product(self, name: str) -> Product | None:
        return next((p for p in self.products if p.name == name), None)

    def cart_items(self) -> str:
        """The cart as ``"Desk lamp x1, Mug x2"`` (sorted by name), what a pay effect records."""
        return items_text(self.cart)

    def cart_total(self) -> int:
        return sum(self.product(n).cents * q for n, q in self.cart.items())  # type: ignore[union-attr]

    def fingerprint(self) -> str:
        """Everything that tells two worlds apart, as one string."""
        mails = ";".join(f"{m.sender}|{m.subject}|{m.body}|{m.unread}|{m.starred}" for m in self.mails)
        notes = ";".join(f"{n.title}|{n.body}|{n.pinned}" for n in self.notes)
        products = ";".join(f"{p.name}|{p.cents}" for p in self.products)
        settings = ";".join(f"{k}={v}" for k, v in sorted(self.settings.items()))
        return f"{settings}#{mails}#{products}#{self.cart_items()}#{sorted(self.wishlist)}#{notes}"


def money(cents: int) -> str:
    """``2499`` -> ``"$24.99"``."""
    return f"${cents // 100}.{cents % 100:02d}"


def items_text(items: dict[str, int]) -> str:
    """Product name -> quantity, as ``"Desk lamp x1, Mug x2"`` sorted by name."""
    return ", ".join(f"{name} x{qty}" for name, qty in sorted(items.items()) if qty > 0)
