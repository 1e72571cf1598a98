"""Settings tasks: toggles, display and sound choices, ringtone, account name, questions, reset."""

from __future__ import annotations

import random
from typing import Any

from mulligan.envs.gui.generate import ACCOUNT_NAMES
from mulligan.envs.gui.tasks import Spec, Stage, click, question, type_into
from mulligan.envs.gui.world import CHOICES, DEFAULT_SETTINGS, RINGTONES, TOGGLES, World

APP = "Settings"
MAIN = (("push", "settings"),)
SOUND = MAIN + (("push", "settings/sound"),)
RINGTONE = SOUND + (("push", "settings/ringtones"),)
ACCOUNT = MAIN + (("push", "settings/account"),)
SCREEN_OF = {"Brightness": MAIN + (("push", "settings/display"),),
             "Font size": MAIN + (("push", "settings/display"),), "Volume": SOUND, "Ringtone": RINGTONE}


def _toggle_stage(name: str, on: bool) -> Stage:
    return Stage(f"turn {'on' if on else 'off'} {name}", MAIN, (click(("toggle", name)),),
                 lambda w: w.settings[name] is on)


def _toggle(on: bool):
    def make(rng: random.Random, world: World) -> Spec:
        name = rng.choice(TOGGLES)
        world.settings[name] = not on
        stage = _toggle_stage(name, on)
        return Spec(f"Turn {'on' if on else 'off'} {name}.", {"allows": (), name: "on" if on else "off"}, name,
                    stage.done, lambda w: [stage])
    return make


def toggle_pair(rng: random.Random, world: World) -> Spec:
    a, b = rng.sample(TOGGLES, 2)
    world.settings[a], world.settings[b] = False, True
    stages = [_toggle_stage(a, True), _toggle_stage(b, False)]
    return Spec(f"Turn on {a} and turn off {b}.", {"allows": (), a: "on", b: "off"}, f"{a}|{b}",
                lambda w: all(s.done(w) for s in stages), lambda w: stages)


def _choose(setting: str, options: tuple[str, ...]):
    def make(rng: random.Random, world: World) -> Spec:
        value = rng.choice([o for o in options if o != world.settings[setting]])
        stage = Stage(f"set {setting.lower()} to {value}", SCREEN_OF[setting], (click(("set", setting, value)),),
                      lambda w: w.settings[setting] == value)
        goal = (f'Set the {setting.lower()} to "{value}".' if setting != "Ringtone"
                else f'Change the ringtone to "{value}".')
        return Spec(goal, {"allows": (), setting: value}, value, stage.done, lambda w: [stage])
    return make


def rename_account(rng: random.Random, world: World) -> Spec:
    name = rng.choice([n for n in ACCOUNT_NAMES if n != world.settings["Account name"]])
    stage = Stage("rename the account", ACCOUNT, (type_into("name", name), click(("save_account",))),
                  lambda w: w.settings["Account name"] == name)
    return Spec(f'Change the account name to "{name}".', {"allows": (), "name": name}, name, stage.done,
                lambda w: [stage])


def ask_ringtone(rng: random.Random, world: World) -> Spec:
    tone = world.settings["Ringtone"]
    return Spec(combo=tone, **question("Which ringtone is the phone using? Answer with its name.", tone, SOUND))


def ask_account(rng: random.Random, world: World) -> Spec:
    name = world.settings["Account name"]
    goal = "Whose name is the phone's account in? Answer with the name."
    return Spec(combo=name, **question(goal, name, ACCOUNT))


def reset_settings(rng: random.Random, world: World) -> Spec:
    changed = rng.sample(sorted(DEFAULT_SETTINGS), 2)
    for key in changed:
        default = DEFAULT_SETTINGS[key]
        pool: Any = (not default,) if isinstance(default, bool) else CHOICES.get(key, RINGTONES)
        world.settings[key] = rng.choice([v for v in pool if v != default])
    check = lambda w: all(w.settings[k] == v for k, v in DEFAULT_SETTINGS.items())  # noqa: E731
    stage = Stage("reset all settings", MAIN + (("push", "settings/system"),), (click(("reset_settings",)),), check)
    return Spec("Reset all settings to their defaults.", {"allows": ("reset_settings",)}, "|".join(sorted(changed)),
                check, lambda w: [stage])


TEMPLATES: dict[str, Any] = {
    "toggle_on": _toggle(True), "toggle_off": _toggle(False), "toggle_pair": toggle_pair,
    "brightness": _choose("Brightness", CHOICES["Brightness"]), "font_size": _choose("Font size", CHOICES["Font size"]),
    "volume": _choose("Volume", CHOICES["Volume"]), "ringtone": _choose("Ringtone", RINGTONES),
    "rename_account": rename_account, "ask_ringtone": ask_ringtone, "ask_account": ask_account,
    "reset_settings": reset_settings,
}
