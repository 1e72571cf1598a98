"""The device: draws the current screen from the world and carries out actions on it.

:func:`screen_of` builds the top screen; :func:`perform` applies one parsed action and returns
the feedback sentence, whether the action did anything, and the irreversible effect it had (if
any). Clicking an irreversible element records its effect in ``world.effects`` before the app
carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from mulligan.envs.gui.actions import GuiAction
from mulligan.envs.gui.apps import FORMS, HANDLERS, ON_OPEN, SCREENS
from mulligan.envs.gui.widgets import Screen
from mulligan.envs.gui.world import Entry, World


@dataclass(frozen=True)
class Outcome:
    """What an action did: the feedback, whether it was valid, and its irreversible effect."""

    feedback: str
    valid: bool
    effect: dict[str, str] | None = None


def screen_of(world: World) -> Screen:
    """The screen on top of the stack, built from the current state."""
    entry = world.top
    return SCREENS[entry.key](world, entry)


def open_screen(world: World, intent: tuple) -> None:
    """Push the screen ``("push", key, *params)`` names, with its fresh form."""
    entry = Entry(intent[1], tuple(intent[2:]), opened_by=intent)
    if entry.key in FORMS:
        entry.form = FORMS[entry.key](world, entry)
    world.stack.append(entry)
    if entry.key in ON_OPEN:
        ON_OPEN[entry.key](world, *entry.params)


def perform(world: World, screen: Screen, action: GuiAction) -> Outcome:
    """Apply one action to the world; never raises for anything an agent can send."""
    if action.kind == "back":
        if len(world.stack) == 1:
            return Outcome("You are already on the home screen.", False)
        world.stack.pop()
        return Outcome("You went back.", True)
    if action.kind == "scroll":
        return _scroll(world, screen, action.text or "down")
    el = screen.get(action.target) if action.target is not None else None
    if el is None:
        return Outcome(f"There is no element [{action.target}] on this screen.", False)
    if el.disabled:
        return Outcome(f'"{el.label}" is disabled.', False)
    if action.kind == "type":
        if not el.editable:
            return Outcome(f'[{el.id}] is a {el.role}, not a textbox: you cannot type into it.', False)
        world.top.form[el.field] = action.text or ""
        return Outcome(f'You typed "{action.text}" into "{el.label}".', True)
    if el.intent is None or not el.clickable:
        return Outcome(f'Clicking [{el.id}] {el.role} "{el.label}" does nothing.', False)
    effect = dict(el.effect) if el.irreversible and el.effect else None
    if effect is not None:
        world.effects.append(effect)
    if el.intent[0] == "push":
        open_screen(world, el.intent)
        return Outcome(f'You clicked "{el.label}".', True, effect)
    return Outcome(f'You clicked "{el.label}". ' + HANDLERS[el.intent[0]](world, *el.intent[1:]), True, effect)


def _scroll(world: World, screen: Screen, direction: str) -> Outcome:
    lst = screen.scroller()
    if lst is None:
        return Outcome("There is nothing to scroll on this screen.", False)
    above, below = lst.hidden_counts()
    if (direction == "down" and not below) or (direction == "up" and not above):
        return Outcome(f"The list is already at the {'bottom' if direction == 'down' else 'top'}.", False)
    step = lst.page if direction == "down" else -lst.page
    world.top.scroll = max(0, min(lst.offset + step, len(lst.children) - lst.page))
    return Outcome(f"You scrolled {direction}.", True)
