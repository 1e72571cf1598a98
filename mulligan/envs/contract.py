"""What a text environment provides to mulligan, and :func:`check_text_env`, which checks it.

docs/envs.md is the long form. In short, an env is a ``gymnasium.Env`` whose observation and
action spaces are :class:`gymnasium.spaces.Text`, reset with ``reset(seed=, options={"task": id})``
and stepped with any string (never raising for one). Its ``info`` carries the keys in
:data:`INFO_KEYS`; its ``metadata`` may carry the flags in :data:`METADATA_FLAGS`; it may offer
``max_steps``, ``expert_action()``/``expert_subgoal()`` and ``clone()`` (tree search; deep copy
is the fallback). The runner makes an env per task and closes it after the episode.
"""

from __future__ import annotations

import copy
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

INFO_KEYS: dict[str, tuple[type | tuple[type, ...], bool, str]] = {
    "won": (bool, True, "the task is solved; the only success signal (never 'the episode ended')"),
    "valid": (bool, False, "the env understood the action and it had an effect; on steps; missing means True"),
    "goal": (str, False, "the task in words"),
    "admissible_actions": (list, False, "actions the env accepts now (strings)"),
    "admissible_complete": (bool, False, "False when the env accepts actions missing from admissible_actions; "
                                         "missing means True"),
    "tools": (list, False, "OpenAI-style tool schemas, for backends with native tool calls"),
    "task_id": (str, False, "the task being played"),
    "split": (str, False, "the task's split"),
    "task_type": (str, False, "the task's family within the suite"),
}
"""info key -> (type, required, meaning)."""

METADATA_FLAGS: dict[str, tuple[type, str]] = {
    "blocking_step": (bool, "step() blocks (a sandbox, a browser, a JVM): agents run it in a worker thread"),
    "blocking_reset": (bool, "reset() blocks (loads a game or a task): agents run it in a worker thread"),
    "multiline_actions": (bool, "actions span lines (code): agents keep everything after 'Action:'"),
    "max_concurrency": (int, "at most this many instances at once (each starts a process); the runner caps "
                             "its episodes in flight"),
}
"""metadata key -> (type, meaning)."""

TEXT_CHARSET = "".join(chr(c) for c in range(32, 0x2500) if chr(c).isprintable()) + "\t\n"
"""Characters a text space of an adapter admits: what third-party games print (tabs, accents, symbols)."""

GARBAGE_ACTIONS = ("", "xyzzy plugh frobozz", "go to " * 40)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ContractReport:
    """What :func:`check_text_env` found: one :class:`Check` per rule, and what the env offers."""

    env_id: str
    checks: list[Check] = field(default_factory=list)
    offers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)


def check_text_env(
    make: Callable[[], gym.Env],
    task: str | None = None,
    *,
    expert_episode: bool = True,
    steps: int = 3,
) -> ContractReport:
    """Check an env against gymnasium's ``check_env`` and mulligan's contract.

    Args:
        make: Builds a fresh env (``lambda: make_env(ENV_ID, ...)``); called a few times.
        task: A task id to reset with (None: the env's own default task).
        expert_episode: Where the env has an expert, play one episode with it and require a win.
        steps: Actions tried (after the garbage ones) when checking ``clone()``.

    Returns:
        The report; ``report.ok`` is False when a rule is broken, ``report.failures`` says which.
    """
    env = make()
    report = ContractReport(env.spec.id if env.spec else type(env.unwrapped).__name__)
    try:
        _check(report, env, make, task, expert_episode, steps)
    except Exception as e:  # noqa: BLE001 - an env that raises is a finding, not a crash of the checker
        report.add("no exception", False, f"{type(e).__name__}: {e}")
    finally:
        _closes(report, env)
    return report


class _AdvisoryListsHidden(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """What gymnasium's determinism checks see: an admissible list the env marks incomplete is advice,
    and an env may word it differently on each load (ScienceWorld names its ambiguous objects anew)."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    @staticmethod
    def _info(info: dict) -> dict:
        if info.get("admissible_complete", True) is False:
            info = {k: v for k, v in info.items() if k != "admissible_actions"}
        return info

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return obs, self._info(info)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._info(info)


def _check(report: ContractReport, env: gym.Env, make: Callable[[], gym.Env], task: str | None,
           expert_episode: bool, steps: int) -> None:
    inner = env.unwrapped
    options = {"task": task} if task else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_env(_AdvisoryListsHidden(inner), skip_render_check=True)
            report.add("gymnasium check_env", True, "; ".join(_gym_warnings(caught)))
        except Exception as e:  # noqa: BLE001
            report.add("gymnasium check_env", False, f"{type(e).__name__}: {e}")
    report.add("text spaces", isinstance(env.observation_space, spaces.Text)
               and isinstance(env.action_space, spaces.Text),
               f"observation {env.observation_space!r}, action {env.action_space!r}")
    _metadata(report, inner.metadata)
    max_steps = getattr(inner, "max_steps", None)
    report.add("max_steps", max_steps is None or (isinstance(max_steps, int) and max_steps > 0), repr(max_steps))

    obs, info = env.reset(seed=0, options=options)
    _observation(report, env, obs, "reset")
    _info(report, info, "reset", on_step=False)
    again, _ = make_reset(make, options)
    report.add("same task, same start", again == obs, "" if again == obs else f"{obs[:80]!r} vs {again[:80]!r}")
    for action in GARBAGE_ACTIONS:
        obs, reward, terminated, truncated, info = env.step(action)
        _observation(report, env, obs, f"step({action[:12]!r})")
        report.add(f"step({action[:12]!r}) types", isinstance(reward, numbers.Real) and isinstance(terminated, bool)
                   and isinstance(truncated, bool), f"{type(reward).__name__}, {terminated!r}, {truncated!r}")
        _info(report, info, f"step({action[:12]!r})", on_step=True)
        if action.strip() and info.get("valid") is True:
            report.offers["garbage"] = f"{action[:20]!r} answered valid=True"
        if terminated or truncated:
            break

    report.offers["admissible actions"] = (
        "no" if "admissible_actions" not in info
        else "complete" if info.get("admissible_complete", True) else "incomplete")
    report.offers["tools"] = "yes" if info.get("tools") else "no"
    report.offers["max_concurrency"] = str(inner.metadata.get("max_concurrency", "-"))
    _clone(report, env, options, steps)
    if hasattr(inner, "expert_action"):
        report.offers["expert"] = "yes"
        if expert_episode:
            _expert_wins(report, env, options)
    else:
        report.offers["expert"] = "no"


def make_reset(make: Callable[[], gym.Env], options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The first observation and info of a fresh env (closed afterwards)."""
    env = make()
    try:
        return env.reset(seed=0, options=options)
    finally:
        env.close()


def _gym_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    # A directly checked unwrapped env has no spec to remake it in other render modes: expected.
    return sorted({str(w.message)[:120] for w in caught if "spec" not in str(w.message)})


def _metadata(report: ContractReport, metadata: dict[str, Any]) -> None:
    for key, (typ, _) in METADATA_FLAGS.items():
        if key in metadata:
            value = metadata[key]
            ok = isinstance(value, typ) and not (typ is int and (isinstance(value, bool) or value < 1))
            report.add(f"metadata[{key!r}]", ok, repr(value))


def _observation(report: ContractReport, env: gym.Env, obs: Any, where: str) -> None:
    ok = isinstance(obs, str) and obs in env.observation_space
    detail = "" if ok else f"{type(obs).__name__} {str(obs)[:80]!r} not in {env.observation_space!r}"
    if isinstance(obs, str) and not ok:
        bad = sorted({c for c in obs if c not in env.observation_space.character_set})[:10]
        detail += f" (characters outside the charset: {bad}; length {len(obs)})"
    report.add(f"{where} observation", ok, detail)


def _info(report: ContractReport, info: Any, where: str, *, on_step: bool) -> None:
    if not report.add(f"{where} info is a dict", isinstance(info, dict), type(info).__name__):
        return
    for key, (typ, required, _) in INFO_KEYS.items():
        if key not in info:
            if required:
                report.add(f"{where} info[{key!r}]", False, "missing")
            continue
        value = info[key]
        ok = isinstance(value, typ)
        if ok and key == "admissible_actions":
            ok = all(isinstance(a, str) for a in value)
        report.add(f"{where} info[{key!r}]", ok, f"{type(value).__name__}" + ("" if ok else f", expected {typ}"))


def clone_of(env: Any) -> Any:
    """The env's ``clone()``, else a deep copy (what tree search runs its branches on)."""
    return env.clone() if hasattr(env, "clone") else copy.deepcopy(env)


def _clone(report: ContractReport, env: gym.Env, options: dict[str, Any] | None, steps: int) -> None:
    env.reset(seed=0, options=options)
    inner = env.unwrapped
    how = "clone()" if hasattr(inner, "clone") else "deep copy"
    try:
        twin = clone_of(inner)
    except Exception as e:  # noqa: BLE001 - optional: tree search is unavailable, not a broken contract
        report.offers["tree search"] = f"no ({how} fails: {type(e).__name__}: {str(e)[:80]})"
        return
    actions = [inner.expert_action() if hasattr(inner, "expert_action") else "look"]
    a = inner.step(actions[0])[0]
    b = twin.step(actions[0])[0]
    same = report.add(f"{how} steps like the original", a == b, "" if a == b else f"{a[:60]!r} vs {b[:60]!r}")
    for _ in range(steps - 1):
        twin.step("xyzzy plugh frobozz")
    if hasattr(twin, "close") and twin is not inner:
        twin.close()
    report.offers["tree search"] = f"yes ({how})" if same else "no"


def _expert_wins(report: ContractReport, env: gym.Env, options: dict[str, Any] | None) -> None:
    env.reset(seed=0, options=options)
    inner = env.unwrapped
    limit = int(getattr(inner, "max_steps", 50))
    won = False
    for _ in range(limit):
        action = inner.expert_action()
        if not isinstance(action, str):
            report.add("expert_action() is a string", False, repr(action)[:60])
            return
        *_, terminated, truncated, info = env.step(action)
        won = bool(info.get("won"))
        if won or terminated or truncated:
            break
    report.add("the expert wins the task", won, "" if won else f"not won within {limit} steps")


def _closes(report: ContractReport, env: gym.Env) -> None:
    try:
        env.close()
        env.close()
        report.add("close() twice", True)
    except Exception as e:  # noqa: BLE001
        report.add("close() twice", False, f"{type(e).__name__}: {e}")
