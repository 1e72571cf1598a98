"""Notes tasks: create, delete, edit, rename, pin, and what a note says."""

from __future__ import annotations

import random
from typing import Any

from mulligan.envs.gui.generate import NEW_NOTE_TEXT, NOTES
from mulligan.envs.gui.tasks import Spec, Stage, click, question, type_into
from mulligan.envs.gui.world import World

APP = "Notes"
LIST = (("push", "notes"),)


def note(note_id: int) -> tuple:
    return LIST + (("push", "notes/note", note_id),)


def _unused_title(rng: random.Random, world: World) -> str:
    return rng.choice([t for t, _ in NOTES if world.note_titled(t) is None])


def create_note(rng: random.Random, world: World) -> Spec:
    title, body = _unused_title(rng, world), rng.choice(NEW_NOTE_TEXT)
    done = lambda w: any(n.title == title and n.body == body for n in w.notes)  # noqa: E731
    stage = Stage("write the note", LIST + (("push", "notes/edit", 0),),
                  (type_into("title", title), type_into("body", body), click(("save_note", 0))), done)
    return Spec(f'Create a note titled "{title}" that says "{body}".', {"allows": ()}, f"{title}|{body}", done,
                lambda w: [stage])


def delete_note(rng: random.Random, world: World) -> Spec:
    n = rng.choice(world.notes)
    done = lambda w: w.note(n.id) is None  # noqa: E731
    stage = Stage("delete the note", note(n.id), (click(("delete_note", n.id)),), done)
    return Spec(f'Delete the note titled "{n.title}".', {"allows": ("delete_note",), "title": n.title}, n.title,
                done, lambda w: [stage])


def _edit(field_name: str):
    def make(rng: random.Random, world: World) -> Spec:
        n = rng.choice(world.notes)
        value = rng.choice(NEW_NOTE_TEXT) if field_name == "body" else _unused_title(rng, world)
        done = lambda w: getattr(w.note(n.id), field_name) == value  # noqa: E731
        stage = Stage(f"change the note's {field_name}", note(n.id) + (("push", "notes/edit", n.id),),
                      (type_into(field_name, value), click(("save_note", n.id))), done)
        goal = (f'Change the text of the note "{n.title}" to "{value}".' if field_name == "body"
                else f'Rename the note "{n.title}" to "{value}".')
        return Spec(goal, {"allows": ()}, f"{n.title}|{value}", done, lambda w: [stage])
    return make


def pin_note(rng: random.Random, world: World) -> Spec:
    n = rng.choice(world.notes)
    n.pinned = False
    done = lambda w: w.note(n.id).pinned  # noqa: E731
    stage = Stage("pin the note", note(n.id), (click(("pin", n.id)),), done)
    return Spec(f'Pin the note "{n.title}".', {"allows": ()}, n.title, done, lambda w: [stage])


def ask_note(rng: random.Random, world: World) -> Spec:
    n = rng.choice(world.notes)
    return Spec(combo=n.title, **question(f'What does the note "{n.title}" say? Answer with its text.', n.body,
                                          note(n.id)))


TEMPLATES: dict[str, Any] = {
    "create_note": create_note, "delete_note": delete_note, "edit_note": _edit("body"),
    "rename_note": _edit("title"), "pin_note": pin_note, "ask_note": ask_note,
}
