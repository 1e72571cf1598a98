"""Agent-R's path collection: a search tree's root-to-leaf paths as trajectories, and splices.

A splice joins a failed path, cut at its first error, to a winning path of the same tree::

    prompt + failed path up to and including the error   (loss off)
    Reflection: <why the error was wrong>\\n<the winning path's next reply>   (kind revision, loss on)
    the rest of the winning path                           (loss on, format errors stay off)

The continuation must start from the state the error left, or the transcript would show the
world doing impossible things. Two cases guarantee it: the winning path passed through the same
error (it continues from the error's node), or the error is the failed path's first reply after
the two paths parted and it had no effect (the env state is the shared node's). Agent-R splices at
the shared node whatever the state; ``loose=True`` does that too. Either way the revision turn
fuses with a reply that had an effect (see :func:`splice_point`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mulligan.agents.tree import Node, shared_depth
from mulligan.records import Message, Trajectory, new_id
from mulligan.reflection import REFLECTION_PREFIX, FirstError


def path_trajectory(leaf: Node, base: Trajectory, *, source: str = "search") -> Trajectory:
    """The episode from the root to ``leaf`` as a trajectory (fields other than the episode from ``base``)."""
    nodes = leaf.path()[1:]
    steps = [n.step.model_copy(update={"t": i}, deep=True) for i, n in enumerate(nodes) if n.step is not None]
    return base.model_copy(
        update={
            "id": new_id("traj-"),
            "source": source,
            "messages": [m.model_copy() for m in leaf.transcript()],
            "steps": steps,
            "success": leaf.won,
            "reward": sum(s.reward for s in steps),
            "end_reason": leaf.end or "",
            "leaf": leaf.id,
        },
        deep=True,
    )


def revision_line(error: FirstError, action: str | None) -> str:
    """The reflection that opens the revision turn."""
    why = error.critique.explanation.strip() or f"'{action}' did not help."
    return f"{REFLECTION_PREFIX} {why}"


@dataclass(frozen=True)
class SplicePoint:
    """Where a failed path is cut and a winning path takes over.

    Attributes:
        error: Depth of the node the wrong reply led to (the failed path is kept through it).
        resume: Depth on the winning path of the first node of the continuation.
        shared: Depth of the last node both paths share.
        sound: Whether the continuation starts from the state the error left.
    """

    error: int
    resume: int
    shared: int
    sound: bool


def _no_effect(node: Node) -> bool:
    return node.step is not None and not node.step.valid


def splice_point(bad: Node, good: Node, error: FirstError, *, loose: bool = False) -> SplicePoint | None:
    """Where to splice ``bad`` (cut at ``error``) onto ``good``; None when no sound splice exists.

    The continuation starts from the winning path's node in the state the error left: the error's
    own node when the winning path passed through it, else the shared node when every reply of the
    failed path after it, the error included, had no effect. Replies of the winning path there that
    had no effect are skipped too (they change nothing), so the revision turn always fuses with a
    reply that did something.
    """
    bad_path, good_path = bad.path(), good.path()
    shared = shared_depth(bad, good)
    depth = error.step + 1
    if depth <= shared:
        anchor, sound = depth, True
    else:
        sound = all(_no_effect(n) for n in bad_path[shared + 1 : depth + 1])
        if not (sound or loose):
            return None
        anchor = shared
    resume = anchor + 1
    while resume < len(good_path) - 1 and _no_effect(good_path[resume]):
        resume += 1
    return SplicePoint(depth, resume, shared, sound)


def splice_messages(bad: Node, good: Node, point: SplicePoint, revision: str) -> list[Message]:
    """The spliced transcript (see the module docstring for its loss flags)."""
    bad_path, good_path = bad.path(), good.path()
    out = [m.model_copy() for m in bad_path[0].turn]
    for node in bad_path[1 : point.error + 1]:
        out += [m.model_copy(update={"train": False}) if m.role == "assistant" else m.model_copy() for m in node.turn]
    fused = False
    for node in good_path[point.resume :]:
        executed = node.step is not None and node.step.action is not None
        for m in node.turn:
            if m.role == "assistant" and executed and not fused:
                fused_content = f"{revision}\n{m.content}"
                out.append(m.model_copy(update={"content": fused_content, "train": True, "kind": "revision"}))
                fused = True
            else:
                out.append(m.model_copy())
    return out


def splice_trajectory(bad: Node, good: Node, point: SplicePoint, error: FirstError, base: Trajectory,
                      bad_traj: Trajectory) -> Trajectory:
    """The splice as a ``source="splice"`` trajectory; the wrong step carries the error's critique."""
    bad_nodes, good_nodes = bad.path()[1 : point.error + 1], good.path()[point.resume :]
    steps = [n.step.model_copy(deep=True) for n in bad_nodes + good_nodes if n.step is not None]
    for i, step in enumerate(steps):
        step.t = i
    steps[point.error - 1].critique = error.critique
    wrong = bad_nodes[-1].step
    return base.model_copy(
        update={
            "id": new_id("traj-"),
            "source": "splice",
            "messages": splice_messages(bad, good, point, revision_line(error, wrong.action if wrong else None)),
            "steps": steps,
            "success": True,
            "reward": sum(s.reward for s in steps),
            "end_reason": "won",
            "parent_id": bad_traj.id,
            "splice": {"bad_leaf": bad.id, "good_leaf": good.id, "error_depth": point.error,
                       "shared_depth": point.shared, "sound": point.sound},
        },
        deep=True,
    )


def closest_win(bad: Node, wins: list[Node]) -> Node | None:
    """The winning leaf sharing the longest prefix with ``bad`` (the shortest among equals)."""
    if not wins:
        return None
    return max(wins, key=lambda w: (shared_depth(bad, w), -w.depth))
