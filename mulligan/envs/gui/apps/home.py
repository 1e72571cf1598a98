"""The launcher: one button per app."""

from __future__ import annotations

from mulligan.envs.gui.widgets import Screen, button
from mulligan.envs.gui.world import Entry, World

APP_KEYS = (("Settings", "settings"), ("Mail", "mail"), ("Shop", "shop"), ("Notes", "notes"))


def build(world: World, entry: Entry) -> Screen:
    return Screen("Home", "Home", [button(name, ("push", key)) for name, key in APP_KEYS])
