"""The simulated apps: each module builds its screens from the world and handles its clicks.

An app module has ``NAME``, ``SCREENS`` (screen key -> builder ``(world, entry) -> Screen``),
``FORMS`` (screen key -> the initial form values of a newly opened screen) and ``HANDLERS``
(intent name -> ``(world, *args) -> feedback``). Opening a screen is the generic intent
``("push", key, *params)``, handled by the device.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from mulligan.envs.gui.apps import home, mail, notes, settings, shop

APPS: tuple[ModuleType, ...] = (settings, mail, shop, notes)
"""The apps on the home screen, in order."""

SCREENS: dict[str, Callable[..., Any]] = {"home": home.build}
FORMS: dict[str, Callable[..., dict[str, Any]]] = {}
HANDLERS: dict[str, Callable[..., str]] = {}
ON_OPEN: dict[str, Callable[..., None]] = {}
"""Screen key -> what opening it does to the world (opening a mail marks it read)."""
for _app in APPS:
    SCREENS.update(_app.SCREENS)
    FORMS.update(_app.FORMS)
    HANDLERS.update(_app.HANDLERS)
    ON_OPEN.update(getattr(_app, "ON_OPEN", {}))

__all__ = ["APPS", "FORMS", "HANDLERS", "ON_OPEN", "SCREENS"]
