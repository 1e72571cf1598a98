"""The widget tree: elements with ids, roles, labels and states, grouped into a screen.

A screen is built fresh from the app state on every step. Ids are numbered depth-first over the
*visible* elements (a scrolled list hides some of its items), so the same screen in the same
state always has the same ids, like the node ids of an accessibility tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any, Iterator

CLICKABLE = frozenset({"button", "toggle", "radio", "listitem", "checkbox"})
EDITABLE = frozenset({"textbox"})


@dataclass
class Element:
    """One node of a screen's accessibility tree.

    Attributes:
        role: ``button``, ``toggle``, ``radio``, ``checkbox``, ``textbox``, ``listitem``, ``list``,
            ``group`` or ``text``.
        label: What the element says.
        intent: What a click does, as a tuple the app understands (``("push", "mail")``,
            ``("toggle", "Wi-Fi")``); None for elements that do nothing when clicked.
        value: The text of a textbox.
        checked: The state of toggles, radios and checkboxes (None for other roles).
        disabled: Clicks and typing are refused.
        irreversible: A click has an effect that cannot be undone (delete, send, pay).
        effect: For irreversible elements, what a click would do now (``{"kind": "pay", ...}``).
        field: For textboxes, the form field typing edits.
        flags: Extra states shown in the tree (``"unread"``, ``"pinned"``).
        children: Child elements.
        page: For scrollable lists, how many children are visible at once (0: not scrollable).
        offset: For scrollable lists, the index of the first visible child.
        id: The number assigned by :meth:`Screen.number` (0 for hidden elements).
    """

    role: str
    label: str
    intent: tuple[Any, ...] | None = None
    value: str | None = None
    checked: bool | None = None
    disabled: bool = False
    irreversible: bool = False
    effect: dict[str, str] | None = None
    field: str | None = None
    flags: tuple[str, ...] = ()
    children: list["Element"] = _field(default_factory=list)
    page: int = 0
    offset: int = 0
    id: int = 0

    @property
    def clickable(self) -> bool:
        return self.role in CLICKABLE and not self.disabled

    @property
    def editable(self) -> bool:
        return self.role in EDITABLE and not self.disabled

    def visible_children(self) -> list["Element"]:
        """The children shown now (a window of ``page`` children for scrollable lists)."""
        if not self.page:
            return self.children
        return self.children[self.offset: self.offset + self.page]

    def hidden_counts(self) -> tuple[int, int]:
        """How many children a scrollable list hides above and below its window."""
        if not self.page:
            return 0, 0
        return self.offset, max(len(self.children) - self.offset - self.page, 0)

    def states(self) -> list[str]:
        """The states the tree shows in parentheses after the label."""
        out: list[str] = []
        if self.checked is not None:
            out.append(("on" if self.checked else "off") if self.role == "toggle" else
                       ("selected" if self.checked else "not selected"))
        out.extend(self.flags)
        if self.disabled:
            out.append("disabled")
        if self.irreversible:
            out.append("irreversible")
        above, below = self.hidden_counts()
        if above or below:
            out.append(f"{above} more above, {below} more below; scroll to see them")
        return out

    def describe(self) -> dict[str, Any]:
        """The element as plain data (what ``info["elements"]`` lists)."""
        return {
            "id": self.id, "role": self.role, "label": self.label, "value": self.value,
            "checked": self.checked, "disabled": self.disabled, "clickable": self.clickable,
            "editable": self.editable, "irreversible": self.irreversible,
            "effect": dict(self.effect) if self.effect else None, "states": self.states(),
        }


@dataclass
class Screen:
    """One screen of an app: a title and a tree of elements.

    Attributes:
        app: The app's name (``"Mail"``); ``"Home"`` for the launcher.
        title: The screen's title.
        elements: The top-level elements, in reading order.
    """

    app: str
    title: str
    elements: list[Element]

    def __post_init__(self) -> None:
        self.number()

    def number(self) -> None:
        """Assign ids 1, 2, ... depth-first to the visible elements; hidden ones get 0."""
        for el in self.walk(visible_only=False):
            el.id = 0
        for i, (el, _) in enumerate(self.visible(), start=1):
            el.id = i

    def visible(self) -> Iterator[tuple[Element, int]]:
        """The visible elements with their depth, depth-first."""
        def rec(els: list[Element], depth: int) -> Iterator[tuple[Element, int]]:
            for el in els:
                yield el, depth
                yield from rec(el.visible_children(), depth + 1)
        return rec(self.elements, 0)

    def walk(self, visible_only: bool = True) -> Iterator[Element]:
        """Every element depth-first (hidden ones too unless ``visible_only``)."""
        def rec(els: list[Element]) -> Iterator[Element]:
            for el in els:
                yield el
                yield from rec(el.visible_children() if visible_only else el.children)
        return rec(self.elements)

    def get(self, element_id: int) -> Element | None:
        """The visible element with this id."""
        return next((el for el in self.walk() if el.id == element_id), None)

    def find(self, *, intent: tuple[Any, ...] | None = None, field: str | None = None) -> Element | None:
        """The first element (visible or not) with this intent or form field."""
        for el in self.walk(visible_only=False):
            if (intent is not None and el.intent == intent) or (field is not None and el.field == field):
                return el
        return None

    def scroller(self) -> Element | None:
        """The screen's scrollable list, if any."""
        return next((el for el in self.walk(visible_only=False) if el.page), None)

    def text(self) -> str:
        """The accessibility tree as text, one element per line, children indented."""
        lines = [f"Screen: {self.app} > {self.title}" if self.app != self.title else f"Screen: {self.title}"]
        lines += [tree_line(el.id, el.role, el.label, el.value, el.states(), depth) for el, depth in self.visible()]
        return "\n".join(lines)


def tree_line(element_id: int, role: str, label: str, value: Any, states: list[str], depth: int) -> str:
    """One element as a line of tree text: ``  [3] textbox "To" value="bob" (focused)``.

    The GUI env and the MiniWoB adapter both write their screens with it, so agents see one format.
    """
    text = f' "{label}"' if label else ""
    shown = f' value="{value}"' if role == "textbox" else ""
    suffix = f" ({', '.join(states)})" if states else ""
    return f"{'  ' * depth}[{element_id}] {role}{text}{shown}{suffix}"


def button(label: str, intent: tuple[Any, ...], **kw: Any) -> Element:
    return Element("button", label, intent=intent, **kw)


def text(label: str) -> Element:
    return Element("text", label)


def textbox(label: str, field: str, value: str) -> Element:
    return Element("textbox", label, field=field, value=value)


def choices(label: str, setting: str, options: tuple[str, ...], current: str, intent: str = "set") -> Element:
    """A radio group: one radio per option, clicking one sends ``(intent, setting, option)``."""
    radios = [Element("radio", o, intent=(intent, setting, o), checked=o == current) for o in options]
    return Element("group", label, children=radios)


def listing(label: str, items: list[Element], offset: int, page: int = 5) -> Element:
    """A list; with more than ``page`` items it scrolls (``offset`` is the first one shown)."""
    if len(items) <= page:
        return Element("list", label, children=items)
    offset = max(0, min(offset, len(items) - page))
    return Element("list", label, children=items, page=page, offset=offset)
