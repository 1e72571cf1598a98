"""GRPO's reward functions on env episodes, in TRL's form: ``(prompts, completions, trajectory, **kw) -> list``.

Each reward is named in :attr:`~mulligan.training.grpo.EnvGRPOConfig.rewards` with its weight; TRL sums
the weighted rewards of an episode and normalises them within its group. Names:

- ``won``: 1.0 when the env said the task was won (``info["won"]``), else 0.0.
- ``invalid``: how many steps were invalid (unparseable replies, rejected or no-effect actions); give it
  a negative weight to penalise them.
- ``steps``: how many steps the episode took (a length penalty with a negative weight).
- ``replaced``: how many of the policy's actions the admissible constraint replaced (each ran as a valid
  action, but the policy proposed an inadmissible one); a negative weight teaches it to propose them itself.
- ``critic:NAME``: how many executed steps the critic ``NAME`` judges bad (``critic:loop``,
  ``critic:env+stall``; see :func:`mulligan.reflection.make_critic`); critics judge the finished
  episode step by step, as they would have judged each action before it ran.
- ``package.module:function``: any reward function of that form (it gets ``trajectory``, a list of
  :class:`~mulligan.records.Trajectory`, among its keyword arguments).

``won``, ``invalid``, ``steps`` and critics also say which step earned what (:func:`step_rewards`), for
step-level credit (:mod:`mulligan.training.gigpo`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from mulligan.errors import ConfigError
from mulligan.records import Trajectory
from mulligan.reflection import Proposal, is_privileged, judge, make_critic
from mulligan.registry import import_ref

BUILTIN = ("won", "invalid", "steps", "replaced")


def won(trajectory: Sequence[Trajectory], **_: Any) -> list[float]:
    """1.0 for each episode the env said was won."""
    return [1.0 if t.success else 0.0 for t in trajectory]


def invalid(trajectory: Sequence[Trajectory], **_: Any) -> list[float]:
    """The number of invalid steps of each episode."""
    return [float(t.invalid_steps) for t in trajectory]


def steps(trajectory: Sequence[Trajectory], **_: Any) -> list[float]:
    """The number of steps of each episode."""
    return [float(t.num_steps) for t in trajectory]


def replaced(trajectory: Sequence[Trajectory], **_: Any) -> list[float]:
    """The number of steps of each episode whose proposed action the admissible constraint replaced."""
    return [float(sum(_replaced_steps(t))) for t in trajectory]


def _replaced_steps(traj: Trajectory) -> list[bool]:
    return ["proposed" in s.info for s in traj.steps]


class CriticReward:
    """The number of executed steps a critic judges bad, per episode (async, so TRL runs it alongside others).

    Args:
        spec: Critic name(s), as :func:`~mulligan.reflection.make_critic` takes them.

    Raises:
        ConfigError: Unknown critic, one that needs a model, or a privileged one (it reads the live env,
            which is gone when an episode is scored).
    """

    def __init__(self, spec: str):
        self.critic = make_critic(spec)
        if is_privileged(self.critic):
            raise ConfigError(f"critic {spec!r} reads the live env; it cannot score finished episodes")
        self.__name__ = f"critic:{spec}"

    async def bad_steps(self, traj: Trajectory) -> list[bool]:
        """For each step of ``traj``, whether the critic judges it bad (unexecuted steps are not judged)."""
        out = []
        for i, step in enumerate(traj.steps):
            if step.action is None:
                out.append(False)
                continue
            critique = await judge(self.critic, Proposal.from_step(traj, i))
            out.append(critique.verdict == "bad")
        return out

    async def __call__(self, trajectory: Sequence[Trajectory], **_: Any) -> list[float]:
        return [float(sum(await self.bad_steps(t))) for t in trajectory]


def _import(path: str) -> Callable[..., list[float]]:
    fn = import_ref(path, "reward function")
    if not callable(fn):
        raise ConfigError(f"reward {path!r} is not callable")
    return fn


def reward_function(name: str) -> Callable[..., Any]:
    """The reward function called ``name`` (see the module docstring).

    Raises:
        ConfigError: An unknown name, with the known ones.
    """
    if name in BUILTIN:
        return {"won": won, "invalid": invalid, "steps": steps, "replaced": replaced}[name]
    if name.startswith("critic:"):
        return CriticReward(name[len("critic:"):])
    if ":" in name:
        return _import(name)
    raise ConfigError(f"unknown reward {name!r}; use won, invalid, steps, replaced, critic:NAME or "
                      "package.module:function")


def reward_functions(weights: dict[str, float]) -> tuple[list[Callable[..., Any]], list[float]]:
    """TRL's ``reward_funcs`` and ``reward_weights`` for a ``{name: weight}`` mapping.

    Raises:
        ConfigError: No reward, or an unknown one.
    """
    if not weights:
        raise ConfigError("GRPO needs at least one reward (e.g. rewards={won: 1.0})")
    return [reward_function(name) for name in weights], [float(w) for w in weights.values()]


async def step_rewards(traj: Trajectory, funcs: Sequence[Any], weights: Sequence[float]) -> list[float]:
    """The weighted reward each step of ``traj`` earned, from the rewards that can say so.

    ``won`` pays the step that won, ``invalid``, ``steps`` and ``replaced`` charge their step, a critic charges the
    steps it judges bad; other reward functions only score whole episodes and add nothing here.
    """
    out = [0.0] * len(traj.steps)
    for fn, weight in zip(funcs, weights):
        if fn is won:
            per_step = [float(traj.success and i == len(traj.steps) - 1) for i in range(len(traj.steps))]
        elif fn is invalid:
            per_step = [0.0 if s.valid else 1.0 for s in traj.steps]
        elif fn is steps:
            per_step = [1.0] * len(traj.steps)
        elif fn is replaced:
            per_step = [float(r) for r in _replaced_steps(traj)]
        elif isinstance(fn, CriticReward):
            per_step = [float(bad) for bad in await fn.bad_steps(traj)]
        else:
            continue
        out = [o + weight * r for o, r in zip(out, per_step)]
    return out
