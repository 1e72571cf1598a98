"""Step-level credit in the spirit of GiGPO (Feng et al., 2025, "Group-in-Group Policy Optimization").

GRPO gives every token of an episode the same advantage: the episode's reward against its group's.
GiGPO adds a second, step-level comparison: steps taken from the *same env state* in different episodes
of a group (an anchor state) are compared by their discounted returns, so a good action taken where
others took a bad one is credited even inside a failed episode. A token's advantage is then
``A_episode + weight * A_step``.

The anchor state of a step is the task and the effective actions before it (valid steps, in order):
in a deterministic env such as the household, episodes that did the same things in the same order are
in the same state. Orders that reach one state differently are not matched, so fewer steps are
compared than could be, never wrong ones. Steps that no other step shares a state with get no
step-level advantage.
"""

from __future__ import annotations

import statistics
from typing import Hashable, Sequence

from mulligan.records import Trajectory
from mulligan.reflection import normalize_action


def anchor_state(traj: Trajectory, t: int) -> Hashable:
    """The env state step ``t`` of ``traj`` acted in: the task and the valid actions before it."""
    done = tuple(normalize_action(s.action) for s in traj.steps[:t] if s.valid and s.action is not None)
    return (traj.task_id, done)


def discounted_returns(rewards: Sequence[float], gamma: float) -> list[float]:
    """``R_t = r_t + gamma * R_{t+1}`` for every step."""
    out, running = [0.0] * len(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def step_advantages(
    trajs: Sequence[Trajectory],
    rewards: Sequence[Sequence[float]],
    group_size: int,
    *,
    gamma: float = 0.95,
    scale: bool = True,
) -> list[list[float]]:
    """Each step's advantage against the steps taken from the same anchor state in its group.

    Args:
        trajs: The episodes of a batch, each group's ``group_size`` episodes together (as GRPO lays them out).
        rewards: For each episode, the reward of each step (see :func:`~mulligan.training.grpo_rewards.step_rewards`).
        group_size: Episodes per group (GRPO's ``num_generations``).
        gamma: Discount of the step returns.
        scale: Divide by the anchor group's standard deviation (as GRPO's ``scale_rewards="group"``).

    Returns:
        One list per episode, one advantage per step (0.0 for a step alone in its anchor state).
    """
    out = [[0.0] * len(t.steps) for t in trajs]
    for start in range(0, len(trajs), group_size):
        anchors: dict[Hashable, list[tuple[int, int, float]]] = {}
        for i in range(start, min(start + group_size, len(trajs))):
            returns = discounted_returns(rewards[i], gamma)
            for t in range(len(trajs[i].steps)):
                anchors.setdefault(anchor_state(trajs[i], t), []).append((i, t, returns[t]))
        for members in anchors.values():
            if len(members) < 2:
                continue
            values = [r for _, _, r in members]
            mean = statistics.fmean(values)
            spread = statistics.pstdev(values) + 1e-4 if scale else 1.0
            for i, t, r in members:
                out[i][t] = (r - mean) / spread
    return out


def token_advantages(
    episode: Sequence[float], steps: Sequence[Sequence[float]], step_of_token: Sequence[Sequence[int]],
    width: int, weight: float,
) -> list[list[float]]:
    """Per-token advantages ``A_episode + weight * A_step``, padded to ``width`` tokens.

    Args:
        episode: Each episode's GRPO advantage.
        steps: Each episode's step advantages (:func:`step_advantages`).
        step_of_token: For each episode, the step each completion token belongs to (-1: none).
        width: The padded completion length of the batch.
        weight: The weight of the step-level term.
    """
    rows = []
    for a_episode, a_steps, owners in zip(episode, steps, step_of_token):
        row = [a_episode + (weight * a_steps[s] if 0 <= s < len(a_steps) else 0.0) for s in owners]
        rows.append(row + [a_episode] * (width - len(row)))
    return rows
