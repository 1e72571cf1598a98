"""Mail tasks: delete (one, or all from a sender), archive, star, mark unread, send, reply, forward, questions."""

from __future__ import annotations

import random
from typing import Any

from mulligan.envs.gui.generate import LINES, PEOPLE
from mulligan.envs.gui.tasks import Spec, Stage, click, question, type_into
from mulligan.envs.gui.world import Mail, World

APP = "Mail"
INBOX = (("push", "mail"),)


def message(mail_id: int) -> tuple:
    return INBOX + (("push", "mail/message", mail_id),)


def _about(m: Mail) -> str:
    return f'the email from {m.sender} about "{m.subject}"'


def _gone(mail_id: int):
    return lambda w: w.mail(mail_id) is None


def delete_mail(rng: random.Random, world: World) -> Spec:
    m = rng.choice(world.inbox())
    stage = Stage("delete the email", message(m.id), (click(("delete_mail", m.id)),), _gone(m.id))
    return Spec(f"Delete {_about(m)}.", {"allows": ("delete_mail",), "from": m.sender, "subject": m.subject},
                f"{m.sender}|{m.subject}", stage.done, lambda w: [stage])


def delete_all_from(rng: random.Random, world: World) -> Spec:
    first, second = rng.sample(world.inbox(), 2)
    second.sender = first.sender
    mine = [m.id for m in world.inbox() if m.sender == first.sender]
    stages = [Stage(f"delete email {i}", message(i), (click(("delete_mail", i)),), _gone(i)) for i in mine]
    return Spec(f"Delete every email from {first.sender}.", {"allows": ("delete_mail",), "from": first.sender},
                first.sender, lambda w: all(s.done(w) for s in stages), lambda w: stages)


def _flag(attr: str, verb: str, intent: str, goal: str):
    def make(rng: random.Random, world: World) -> Spec:
        m = rng.choice(world.inbox())
        setattr(m, "starred" if attr == "starred" else "unread", False)
        if attr == "archived":
            done = lambda w: w.mail(m.id).folder == "archive"  # noqa: E731
        else:
            done = lambda w: getattr(w.mail(m.id), attr)  # noqa: E731
        stage = Stage(f"{verb} the email", message(m.id), (click((intent, m.id)),), done)
        return Spec(goal.format(_about(m)), {"allows": ()}, f"{m.sender}|{m.subject}", done,
                    lambda w: [stage])
    return make


def _sent(to: str, subject: str, body: str | None = None):
    return lambda w: any(s["to"] == to and s["subject"] == subject and body in (None, s["body"]) for s in w.sent)


def send_mail(rng: random.Random, world: World) -> Spec:
    to, subject, body = rng.choice(PEOPLE), rng.choice(LINES), rng.choice(LINES)
    done = _sent(to, subject, body)
    stage = Stage("write and send the email", INBOX + (("push", "mail/compose", "new", 0),),
                  (type_into("to", to), type_into("subject", subject), type_into("body", body), click(("send",))), done)
    return Spec(f'Send an email to {to} with the subject "{subject}" and the text "{body}".',
                {"allows": ("send",), "to": to, "subject": subject, "body": body}, f"{to}|{subject}", done,
                lambda w: [stage])


def reply_mail(rng: random.Random, world: World) -> Spec:
    m, body = rng.choice(world.inbox()), rng.choice(LINES)
    done = _sent(m.sender, f"Re: {m.subject}", body)
    stage = Stage("reply to the email", message(m.id) + (("push", "mail/compose", "reply", m.id),),
                  (type_into("body", body), click(("send",))), done)
    return Spec(f'Reply to {_about(m)} with the text "{body}".',
                {"allows": ("send",), "to": m.sender, "subject": f"Re: {m.subject}", "body": body},
                f"{m.sender}|{body}", done, lambda w: [stage])


def forward_mail(rng: random.Random, world: World) -> Spec:
    m = rng.choice(world.inbox())
    to = rng.choice([p for p in PEOPLE if p != m.sender])
    done = _sent(to, f"Fwd: {m.subject}")
    stage = Stage("forward the email", message(m.id) + (("push", "mail/compose", "forward", m.id),),
                  (type_into("to", to), click(("send",))), done)
    return Spec(f"Forward {_about(m)} to {to}.", {"allows": ("send",), "to": to, "subject": f"Fwd: {m.subject}"},
                f"{m.subject}|{to}", done, lambda w: [stage])


def ask_subject(rng: random.Random, world: World) -> Spec:
    sender = rng.choice(world.inbox()).sender
    latest = next(m for m in world.inbox() if m.sender == sender)
    goal = f"What is the subject of the most recent email from {sender}? Answer with the subject."
    return Spec(combo=sender, **question(goal, latest.subject, message(latest.id)))


def ask_code(rng: random.Random, world: World) -> Spec:
    m = rng.choice(world.inbox())
    code = str(rng.randint(1000, 9999))
    m.body = f"Your verification code is {code}."
    goal = f"What is the verification code in {_about(m)}?"
    return Spec(combo=m.sender, **question(goal, code, message(m.id)))


TEMPLATES: dict[str, Any] = {
    "delete_mail": delete_mail, "delete_all_from": delete_all_from,
    "archive_mail": _flag("archived", "archive", "archive", "Archive {}."),
    "star_mail": _flag("starred", "star", "star", "Star {}."),
    "mark_unread": _flag("unread", "mark as unread", "mark_unread", "Mark {} as unread."),
    "send_mail": send_mail, "reply_mail": reply_mail, "forward_mail": forward_mail,
    "ask_subject": ask_subject, "ask_code": ask_code,
}
