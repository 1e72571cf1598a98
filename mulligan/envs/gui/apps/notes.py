"""Notes: the list (pinned first), a note, and an editor. Deleting a note is irreversible."""

from __future__ import annotations

from typing import Any

from mulligan.envs.gui.widgets import Element, Screen, button, listing, text, textbox
from mulligan.envs.gui.world import Entry, Note, World

NAME = "Notes"


def ordered(world: World) -> list[Note]:
    return sorted(world.notes, key=lambda n: not n.pinned)


def notes_list(world: World, entry: Entry) -> Screen:
    items = [Element("listitem", n.title, intent=("push", "notes/note", n.id),
                     flags=("pinned",) if n.pinned else ()) for n in ordered(world)]
    return Screen(NAME, "Notes", [button("New note", ("push", "notes/edit", 0)), listing("Notes", items, entry.scroll)])


def note(world: World, entry: Entry) -> Screen:
    n = world.note(entry.params[0])
    assert n is not None
    return Screen(NAME, n.title, [
        text(n.body),
        button("Edit", ("push", "notes/edit", n.id)),
        Element("toggle", "Pin", intent=("pin", n.id), checked=n.pinned),
        button("Delete", ("delete_note", n.id), irreversible=True, effect={"kind": "delete_note", "title": n.title}),
    ])


def editor(world: World, entry: Entry) -> Screen:
    form = entry.form
    return Screen(NAME, "Edit note" if entry.params[0] else "New note", [
        textbox("Title", "title", form["title"]), textbox("Body", "body", form["body"]),
        button("Save", ("save_note", entry.params[0]), disabled=not form["title"].strip()),
    ])


def editor_form(world: World, entry: Entry) -> dict[str, str]:
    n = world.note(entry.params[0])
    return {"title": n.title, "body": n.body} if n else {"title": "", "body": ""}


def pin(world: World, note_id: int) -> str:
    n = world.note(note_id)
    assert n is not None
    n.pinned = not n.pinned
    return f"The note is {'pinned' if n.pinned else 'unpinned'}."


def delete(world: World, note_id: int) -> str:
    world.notes = [n for n in world.notes if n.id != note_id]
    world.stack.pop()
    return "The note was deleted."


def save(world: World, note_id: int) -> str:
    form = world.top.form
    title, body = form["title"].strip(), form["body"].strip()
    n = world.note(note_id)
    if n is None:
        world.notes.append(Note(max((x.id for x in world.notes), default=0) + 1, title, body))
    else:
        n.title, n.body = title, body
    world.stack.pop()
    return f'Saved the note "{title}".'


SCREENS: dict[str, Any] = {"notes": notes_list, "notes/note": note, "notes/edit": editor}
FORMS: dict[str, Any] = {"notes/edit": editor_form}
HANDLERS: dict[str, Any] = {"pin": pin, "delete_note": delete, "save_note": save}
