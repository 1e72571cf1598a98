"""Settings: toggles, display and sound choices, the ringtone list, the account name, and a reset."""

from __future__ import annotations

from typing import Any

from mulligan.envs.gui.widgets import Element, Screen, button, choices, listing, text, textbox
from mulligan.envs.gui.world import CHOICES, DEFAULT_SETTINGS, RINGTONES, TOGGLES, Entry, World

NAME = "Settings"


def main(world: World, entry: Entry) -> Screen:
    toggles = [Element("toggle", t, intent=("toggle", t), checked=bool(world.settings[t])) for t in TOGGLES]
    links = [button(label, ("push", key)) for label, key in (
        ("Display", "settings/display"), ("Sound", "settings/sound"),
        ("Account", "settings/account"), ("System", "settings/system"))]
    return Screen(NAME, "Settings", toggles + links)


def display(world: World, entry: Entry) -> Screen:
    groups = [choices(c, c, CHOICES[c], world.settings[c]) for c in ("Brightness", "Font size")]
    return Screen(NAME, "Display", groups)


def sound(world: World, entry: Entry) -> Screen:
    return Screen(NAME, "Sound", [
        choices("Volume", "Volume", CHOICES["Volume"], world.settings["Volume"]),
        button(f"Ringtone: {world.settings['Ringtone']}", ("push", "settings/ringtones")),
    ])


def ringtones(world: World, entry: Entry) -> Screen:
    current = world.settings["Ringtone"]
    items = [Element("radio", r, intent=("set", "Ringtone", r), checked=r == current) for r in RINGTONES]
    return Screen(NAME, "Ringtone", [listing("Ringtones", items, entry.scroll)])


def account(world: World, entry: Entry) -> Screen:
    return Screen(NAME, "Account", [
        text(f"Signed in as {world.settings['Account name']}"),
        textbox("Name", "name", entry.form["name"]),
        button("Save", ("save_account",), disabled=not entry.form["name"].strip()),
    ])


def system(world: World, entry: Entry) -> Screen:
    return Screen(NAME, "System", [
        text("Version 4.2.1"),
        button("Reset all settings", ("reset_settings",), irreversible=True, effect={"kind": "reset_settings"}),
    ])


def toggle(world: World, name: str) -> str:
    world.settings[name] = not world.settings[name]
    return f"{name} is now {'on' if world.settings[name] else 'off'}."


def choose(world: World, setting: str, value: str) -> str:
    world.settings[setting] = value
    return f"{setting} set to {value}."


def save_account(world: World) -> str:
    world.settings["Account name"] = world.top.form["name"].strip()
    world.stack.pop()
    return f"Saved. The account name is {world.settings['Account name']}."


def reset(world: World) -> str:
    world.settings.update(DEFAULT_SETTINGS)
    del world.stack[2:]
    return "All settings were reset to their defaults."


SCREENS: dict[str, Any] = {
    "settings": main, "settings/display": display, "settings/sound": sound, "settings/ringtones": ringtones,
    "settings/account": account, "settings/system": system,
}
FORMS: dict[str, Any] = {"settings/account": lambda world, entry: {"name": world.settings["Account name"]}}
HANDLERS: dict[str, Any] = {"toggle": toggle, "set": choose, "save_account": save_account,
                            "reset_settings": reset}
