"""Task templates, one module per app; ``TEMPLATES`` maps a template name to ``(app, make)``.

``make(rng, world)`` may adjust the fresh world (put a mail in the inbox, a product in the cart)
and returns a :class:`~mulligan.envs.gui.tasks.Spec`, or None when the world cannot pose it.
"""

from __future__ import annotations

from typing import Any, Callable

from mulligan.envs.gui.templates import mail, notes, settings, shop

TEMPLATES: dict[str, tuple[str, Callable[..., Any]]] = {
    name: (module.APP, make) for module in (settings, mail, shop, notes) for name, make in module.TEMPLATES.items()
}

__all__ = ["TEMPLATES"]
