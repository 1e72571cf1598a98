"""Loop and stall detectors (MobileUse's triggers): env-agnostic guards over actions and observations.

The functions look at the end of a sequence; the two critics apply them to a proposal, so an agent
can be stopped *before* it repeats itself a third time.
"""

from __future__ import annotations

from typing import Sequence

from mulligan.records import Critique
from mulligan.reflection.base import Proposal

REPEATS = 3
"""How many times the same action (or the same observation) in a row counts as a loop."""


def repeated_action(actions: Sequence[str], times: int = REPEATS) -> str | None:
    """The action the sequence ends with ``times`` times in a row, else None."""
    if len(actions) < times or len(set(actions[-times:])) != 1:
        return None
    return actions[-1]


def action_cycle(actions: Sequence[str], period: int, repeats: int = 2) -> tuple[str, ...] | None:
    """The cycle of ``period`` distinct actions the sequence ends with ``repeats`` times, else None.

    ``a b a b`` ends with a 2-action cycle; ``a b c a b c`` with a 3-action cycle. A cycle of
    equal actions is a repeat, not a cycle.
    """
    n = period * repeats
    if len(actions) < n:
        return None
    tail = list(actions[-n:])
    cycle = tuple(tail[:period])
    if len(set(cycle)) != period or any(tail[k] != cycle[k % period] for k in range(n)):
        return None
    return cycle


def stalled(observations: Sequence[str], times: int = REPEATS) -> bool:
    """Whether the last ``times`` observations are all the same."""
    return len(observations) >= times and len(set(observations[-times:])) == 1


def find_loop(actions: Sequence[str]) -> str | None:
    """A sentence describing the loop the actions end in (repeat, 2- or 3-cycle), else None."""
    same = repeated_action(actions)
    if same is not None:
        return f"'{same}' was repeated {REPEATS} times in a row"
    for period in (2, 3):
        cycle = action_cycle(actions, period)
        if cycle is not None:
            return "the actions go round in a cycle: " + " -> ".join(f"'{a}'" for a in cycle)
    return None


def loop_critic(proposal: Proposal) -> Critique:
    """Bad when the proposed action completes a repeat (3 times) or a 2- or 3-action cycle."""
    loop = find_loop(proposal.actions())
    if loop is None:
        return Critique(verdict="good", critic="loop")
    return Critique(
        verdict="bad",
        critic="loop",
        explanation=f"This would loop: {loop}. Repeating it will not change the outcome.",
        suggestion="Do something different from the recent actions.",
    )


def stall_critic(proposal: Proposal) -> Critique:
    """Bad when the observation was unchanged 3 times and the action is one of those that caused it."""
    steps = list(proposal.history) + ([proposal.outcome] if proposal.outcome is not None else [])
    observations = [s.observation for s in steps if s.action is not None]
    if not stalled(observations):
        return Critique(verdict="good", critic="stall")
    recent = {s.action for s in steps[-REPEATS:]}
    if proposal.action not in recent:
        return Critique(verdict="uncertain", critic="stall", explanation="The last observations were all the same.")
    return Critique(
        verdict="bad",
        critic="stall",
        explanation=f"The observation has not changed for {REPEATS} steps ('{observations[-1][:80]}'); "
        f"'{proposal.action}' is one of the actions that kept it so.",
        suggestion="Try an action that changes the situation.",
    )
