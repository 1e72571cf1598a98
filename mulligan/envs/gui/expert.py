"""The GUI expert: follows the task's plan from the true state, one action at a time.

The plan (a list of stages, recomputed from the world each step) says which screen to reach and
what to do there. The expert takes the first stage whose goal does not hold yet, goes back until
the open screens are a prefix of the stage's route, clicks forward along the route (scrolling to
find an element a list hides), and then does the stage's first operation not yet done.
"""

from __future__ import annotations

from dataclasses import dataclass

from mulligan.envs.gui.tasks import Intent, Task
from mulligan.envs.gui.widgets import Screen
from mulligan.envs.gui.world import World


@dataclass(frozen=True)
class ExpertAction:
    """One planned step: what it serves and the action."""

    subgoal: str
    action: str


def reach(screen: Screen, intent: Intent) -> str:
    """Click the element with ``intent``, or scroll towards it when its list hides it."""
    el = screen.find(intent=intent)
    if el is None:
        raise LookupError(f"no element with intent {intent} on screen {screen.title!r}")
    if el.id:
        return f"click({el.id})"
    lst = screen.scroller()
    assert lst is not None
    return "scroll(down)" if lst.children.index(el) >= lst.offset else "scroll(up)"


def plan(task: Task, world: World, screen: Screen) -> ExpertAction:
    """The expert's next step in ``world`` (whose top screen is ``screen``)."""
    stages = task.spec.plan(world)
    stage = next((s for s in stages if not s.done(world)), None)
    if stage is None:
        return ExpertAction("done", "back()")
    opened = [e.opened_by for e in world.stack[1:]]
    route = list(stage.route)
    if opened != route[: len(opened)]:
        return ExpertAction(stage.subgoal, "back()")
    if len(opened) < len(route):
        return ExpertAction(stage.subgoal, reach(screen, route[len(opened)]))
    for op in stage.ops:
        if op.done is not None and op.done(world):
            continue
        if op.kind == "answer":
            return ExpertAction(stage.subgoal, f'answer("{op.text}")')
        if op.kind == "type":
            el = screen.find(field=op.field)
            assert el is not None, f"no field {op.field!r} on {screen.title!r}"
            return ExpertAction(stage.subgoal, f'type({el.id}, "{op.text}")')
        return ExpertAction(stage.subgoal, reach(screen, op.intent))  # type: ignore[arg-type]
    return ExpertAction(stage.subgoal, "back()")  # pragma: no cover - every stage ends with an operation
