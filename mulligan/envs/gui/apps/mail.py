"""Mail: the inbox, a message, and a compose screen (new, reply, forward). Delete and send are irreversible."""

from __future__ import annotations

from typing import Any

from mulligan.envs.gui.widgets import Element, Screen, button, listing, text, textbox
from mulligan.envs.gui.world import Entry, World

NAME = "Mail"


def inbox(world: World, entry: Entry) -> Screen:
    items = [Element("listitem", f"{m.sender}: {m.subject}", intent=("push", "mail/message", m.id),
                     flags=tuple(f for f, on in (("unread", m.unread), ("starred", m.starred)) if on))
             for m in world.inbox()]
    return Screen(NAME, "Inbox", [button("Compose", ("push", "mail/compose", "new", 0)),
                                  listing("Inbox", items, entry.scroll)])


def message(world: World, entry: Entry) -> Screen:
    m = world.mail(entry.params[0])
    assert m is not None
    return Screen(NAME, m.subject, [
        text(f"From: {m.sender}"), text(f"Subject: {m.subject}"), text(m.body),
        button("Reply", ("push", "mail/compose", "reply", m.id)),
        button("Forward", ("push", "mail/compose", "forward", m.id)),
        Element("toggle", "Star", intent=("star", m.id), checked=m.starred),
        button("Mark as unread", ("mark_unread", m.id)),
        button("Archive", ("archive", m.id)),
        button("Delete", ("delete_mail", m.id), irreversible=True,
               effect={"kind": "delete_mail", "from": m.sender, "subject": m.subject}),
    ])


def compose(world: World, entry: Entry) -> Screen:
    form = entry.form
    title = {"new": "New message", "reply": "Reply", "forward": "Forward"}[entry.params[0]]
    effect = {"kind": "send", "to": form["to"].strip(), "subject": form["subject"].strip(),
              "body": form["body"].strip()}
    return Screen(NAME, title, [
        textbox("To", "to", form["to"]), textbox("Subject", "subject", form["subject"]),
        textbox("Body", "body", form["body"]),
        button("Send", ("send",), irreversible=True, effect=effect, disabled=not effect["to"]),
    ])


def compose_form(world: World, entry: Entry) -> dict[str, str]:
    mode, mail_id = entry.params
    m = world.mail(mail_id)
    if mode == "reply" and m is not None:
        return {"to": m.sender, "subject": f"Re: {m.subject}", "body": ""}
    if mode == "forward" and m is not None:
        return {"to": "", "subject": f"Fwd: {m.subject}", "body": m.body}
    return {"to": "", "subject": "", "body": ""}


def opened(world: World, mail_id: int) -> None:
    m = world.mail(mail_id)
    if m is not None:
        m.unread = False


def star(world: World, mail_id: int) -> str:
    m = world.mail(mail_id)
    assert m is not None
    m.starred = not m.starred
    return f"The email is {'starred' if m.starred else 'no longer starred'}."


def mark_unread(world: World, mail_id: int) -> str:
    world.mail(mail_id).unread = True  # type: ignore[union-attr]
    world.stack.pop()
    return "Marked as unread."


def archive(world: World, mail_id: int) -> str:
    world.mail(mail_id).folder = "archive"  # type: ignore[union-attr]
    world.stack.pop()
    return "The email was archived."


def delete(world: World, mail_id: int) -> str:
    world.mails = [m for m in world.mails if m.id != mail_id]
    world.stack.pop()
    return "The email was deleted."


def send(world: World) -> str:
    form = world.top.form
    world.sent.append({k: form[k].strip() for k in ("to", "subject", "body")})
    world.stack.pop()
    return f"Sent to {form['to'].strip()}."


SCREENS: dict[str, Any] = {"mail": inbox, "mail/message": message, "mail/compose": compose}
FORMS: dict[str, Any] = {"mail/compose": compose_form}
HANDLERS: dict[str, Any] = {"star": star, "mark_unread": mark_unread, "archive": archive,
                            "delete_mail": delete, "send": send}
ON_OPEN: dict[str, Any] = {"mail/message": opened}
