"""``mulligan/ScienceWorld-v0``: the ``scienceworld`` package (a Scala simulator on a JVM) as a text env.

Task ids are ``"<task name>:<split>-<k>"`` (``"boil:test-3"``): the k-th variation of ScienceWorld's
own ``train``/``dev``/``test`` variation list of that task type. The first observation is the room
(``look around``) and the task description. ``info["admissible_actions"]`` is ScienceWorld's list of
valid action-object combinations (sorted), marked incomplete (``admissible_complete=False``): the parser
accepts actions the list leaves out. The reward is the score's change / 100, so a won episode sums
to 1; ``won`` is a score of 100. A score below 0 (the task failed, e.g. focusing on the wrong
object) terminates. Each tab-indented list in an observation (a room's contents) is sorted:
ScienceWorld lists them in an order that changes from one load of the same variation to the next,
and sorted, a reset with the same task gives the same observation. The expert replays
ScienceWorld's gold action sequence: exact on its own path, it does not recover from another
agent's detours.

A JVM takes seconds to start, so simulators are pooled per process: ``close()`` hands the env's
JVM back to the pool and the next env takes it (at most :data:`POOL_SIZE` are kept). Loading a
task blocks for up to seconds, so ``reset`` and ``step`` are marked blocking (agents run them in
worker threads) and the env hints the runner at :data:`MAX_CONCURRENCY` instances at once.
"""

from __future__ import annotations

import atexit
import difflib
import threading
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from mulligan.envs.contract import TEXT_CHARSET
from mulligan.envs.options import check_env_options
from mulligan.envs.suites import IndexedSuite, checked_task_id, suggest
from mulligan.errors import ConfigError, DependencyNotInstalled, EnvError

ENV_ID = "mulligan/ScienceWorld-v0"
SPLITS = ["train", "dev", "test"]
POOL_SIZE = 8
MAX_CONCURRENCY = 4
MAX_OBSERVATION_CHARS = 16384
INVALID = "No known action matches that input."
AMBIGUOUS = "Ambiguous request"
GOLD_WAITS = 20
"""How many ticks the expert waits for a gold action the world is not ready for (a tin not yet molten, a
pea plant not yet in seed: the simulator is random past the variation, so its clock is not the gold path's)."""

SPLIT_SIZES: dict[str, tuple[int, int, int]] = {
    "boil": (14, 7, 9), "change-the-state-of-matter-of": (14, 7, 9), "chemistry-mix": (16, 8, 8),
    "chemistry-mix-paint-secondary-color": (18, 9, 9), "chemistry-mix-paint-tertiary-color": (18, 9, 9),
    "find-animal": (150, 75, 75), "find-living-thing": (150, 75, 75), "find-non-living-thing": (150, 75, 75),
    "find-plant": (150, 75, 75), "freeze": (14, 7, 9), "grow-fruit": (62, 31, 33), "grow-plant": (62, 31, 33),
    "identify-life-stages-1": (6, 3, 5), "identify-life-stages-2": (4, 2, 4),
    "inclined-plane-determine-angle": (84, 42, 42), "inclined-plane-friction-named-surfaces": (692, 346, 348),
    "inclined-plane-friction-unnamed-surfaces": (80, 40, 42), "lifespan-longest-lived": (62, 31, 32),
    "lifespan-longest-lived-then-shortest-lived": (62, 31, 32), "lifespan-shortest-lived": (62, 31, 32),
    "measure-melting-point-known-substance": (218, 109, 109),
    "measure-melting-point-unknown-substance": (150, 75, 75), "melt": (14, 7, 9),
    "mendelian-genetics-known-plant": (60, 30, 30), "mendelian-genetics-unknown-plant": (240, 120, 120),
    "power-component": (10, 5, 5), "power-component-renewable-vs-nonrenewable-energy": (10, 5, 5),
    "test-conductivity": (450, 225, 225), "test-conductivity-of-unknown-substances": (300, 150, 150),
    "use-thermometer": (270, 135, 135),
}
"""Task name -> number of variations in (train, dev, test), as ScienceWorld 1.2 splits them: train
is the first ones, then dev, then test (a test checks this table against the simulator's lists)."""

TASKS = sorted(SPLIT_SIZES)
INSTALL_HINT = "the scienceworld package and Java 11+ (apt-get install -y openjdk-17-jre-headless)"


def _import_scienceworld() -> Any:
    try:
        from scienceworld import ScienceWorldEnv as Simulator
    except ImportError as e:
        raise DependencyNotInstalled("scienceworld", "envs", INSTALL_HINT) from e
    return Simulator


class _Pool:
    """Started simulators (one JVM each), handed out one per env and taken back on close."""

    def __init__(self) -> None:
        self.idle: list[Any] = []
        self.lock = threading.Lock()

    def take(self) -> Any:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        try:
            return _import_scienceworld()("", envStepLimit=10**6)
        except FileNotFoundError as e:
            raise DependencyNotInstalled("java", "envs", INSTALL_HINT) from e

    def give_back(self, sim: Any) -> None:
        with self.lock:
            if len(self.idle) < POOL_SIZE:
                self.idle.append(sim)
                return
        sim.close()

    def close_all(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for sim in idle:
            try:
                sim.close()
            except Exception:  # noqa: BLE001 - the JVM may already be gone at exit
                pass


POOL = _Pool()
atexit.register(POOL.close_all)


def split_task_id(task_id: Any) -> tuple[str, str, int]:
    """``"boil:test-3"`` -> ``("boil", "test", 3)``.

    Raises:
        EnvError: Malformed id, unknown task name or split, or an index past the split's end.
    """
    if not isinstance(task_id, str) or ":" not in task_id:
        raise EnvError(f"ScienceWorld task ids look like 'boil:test-3' (task name, split, index), got {task_id!r}")
    name, _, rest = task_id.rpartition(":")
    if name not in SPLIT_SIZES:
        raise EnvError(f"unknown ScienceWorld task {name!r}.{suggest(name, TASKS)}")
    split, index = checked_task_id(rest, SPLITS, "ScienceWorld")
    size = SPLIT_SIZES[name][SPLITS.index(split)]
    if index >= size:
        raise EnvError(f"{name} has {size} {split} variations; {task_id!r} is past the end")
    return name, split, index


def variation_of(name: str, split: str, index: int) -> int:
    """ScienceWorld's variation number of the index-th variation of a task's split."""
    column = SPLITS.index(split)
    return sum(SPLIT_SIZES[name][:column]) + index


class ScienceWorldEnv(gym.Env[str, str]):
    """One ScienceWorld task variation at a time (module docstring).

    ``info`` holds ``won``, ``goal`` (the task description), ``valid`` (False when ScienceWorld
    answers "No known action matches that input."), ``admissible_actions`` (its valid
    action-object combinations, with ``admissible_complete=False``), ``score`` (0-100),
    ``task_id``, ``task_type`` (the task name), ``variation``, ``split`` and ``step``.

    Args:
        max_steps: Steps before truncation.
        task: A task id used when ``reset`` names none (default ``boil:train-0``).
        simplifications: ScienceWorld's simplification string: ``""`` (none, the benchmark),
            ``"easy"``, or a comma-separated list such as ``"openDoors,teleportAction"``.
        admissible: Compute ``admissible_actions`` (a few hundred strings) after every step.
        expert: Have ScienceWorld generate the gold path at each reset (seconds per task; the
            expert needs it, a policy run does not).
        render_mode: None or ``"ansi"``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4, "blocking_reset": True, "blocking_step": True,
                "max_concurrency": MAX_CONCURRENCY}

    def __init__(self, max_steps: int = 150, task: str | None = None, simplifications: str = "",
                 admissible: bool = True, expert: bool = True, render_mode: str | None = None):
        check_env_options(max_steps, render_mode, self.metadata["render_modes"])
        if not isinstance(simplifications, str):
            raise ConfigError(f"simplifications must be a string like 'easy' or 'openDoors', got {simplifications!r}")
        self.max_steps = max_steps
        self.default_task = task
        self.simplifications = simplifications
        self.admissible = bool(admissible)
        self.expert = bool(expert)
        self.render_mode = render_mode
        self.observation_space = spaces.Text(MAX_OBSERVATION_CHARS, min_length=1, charset=TEXT_CHARSET)
        self.action_space = spaces.Text(300, min_length=0, charset=TEXT_CHARSET)
        self.sim: Any = None
        self.task_id = self.task_name = self.split = self.goal = ""
        self.variation = -1
        self.gold: list[str] = []
        self.gold_pos = 0
        self.gold_waits = 0
        self._gold_refused = False
        self._gold_stand_in = ""
        self.steps_taken = 0
        self.score = 0
        self.is_won = False
        self._last = ""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Load a task variation (``options={"task": "boil:test-3"}``); blocks while the JVM loads it."""
        super().reset(seed=seed)
        task_id = (options or {}).get("task") or self.default_task or "boil:train-0"
        name, split, index = split_task_id(task_id)
        if self.sim is None:
            self.sim = POOL.take()
        sim = self.sim
        self.variation = variation_of(name, split, index)
        try:
            sim.load(name, self.variation, self.simplifications, generateGoldPath=self.expert)
        except ValueError as e:
            raise ConfigError(f"ScienceWorld: {e}") from None
        self.gold = [_normal(a) for a in sim.get_gold_action_sequence()] if self.expert else []
        # load() leaves the task at its start; the package's reset() would load it all over again.
        self.task_id, self.task_name, self.split = task_id, name, split
        self.goal = str(sim.taskdescription()).replace("Task Description:", "").strip()
        self.gold_pos = self.gold_waits = self.steps_taken = self.score = 0
        self.is_won = self._gold_refused = False
        self._gold_stand_in = ""
        return self._emit(f"{str(sim.look()).strip()}\n\n{self.goal}"), self._info(True)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Send one command; never raises for any action value."""
        if self.sim is None:
            raise EnvError("call reset() before step()")
        text = _normal(action)[:300] if isinstance(action, str) else ""
        self.steps_taken += 1
        if text:
            # The simulator's own calls: the package's step() also renders the room, the
            # inventory and the task and lists the valid actions, each a JVM round trip.
            server = self.sim.server
            obs, completed = str(server.step(text)), bool(server.getCompleted())
            score = int(round(100 * server.getScore()))
        else:
            obs, completed, score = INVALID, False, self.score
        valid = not obs.startswith(INVALID)
        reward, self.score = (score - self.score) / 100.0, score
        on_gold = self.gold_pos < len(self.gold) and text in (self.gold[self.gold_pos], self._gold_stand_in)
        self._gold_refused = on_gold and not valid
        if self._gold_refused and text == self._gold_stand_in:
            self.gold_pos, self._gold_refused = self.gold_pos + 1, False  # the stand-in failed too: skip it
        self._gold_stand_in = ""
        if valid and on_gold:
            self.gold_pos += 1
            self.gold_waits = 0
            if not obs.startswith(AMBIGUOUS) and self.gold_pos < len(self.gold) and self.gold[self.gold_pos].isdigit():
                # The gold path answered an ambiguity prompt this load did not ask: some worlds are
                # random past the variation (a pea plant's offspring), so one seed may match here.
                self.gold_pos += 1
        self.is_won = self.is_won or self.score >= 100
        terminated = completed or self.is_won or self.score < 0
        truncated = not terminated and self.steps_taken >= self.max_steps
        return self._emit(obs.strip() or "(nothing)"), reward, terminated, truncated, self._info(valid)

    def expert_action(self) -> str:
        """The next action of ScienceWorld's gold sequence on the path taken so far (an ambiguity prompt the
        gold path did not meet is answered with its first choice; one it met but this load did not is skipped;
        a gold action the world refused is retried after a tick's wait, up to ``GOLD_WAITS`` times, then
        stood in for by the most alike valid action with its verb, the names of a random world having drifted
        from the gold path's, or else skipped)."""
        if self.sim is None:
            raise EnvError("call reset() before asking the expert")
        if not self.expert:
            raise ConfigError("this ScienceWorld env was made with expert=False: no gold path to follow")
        if self._gold_refused:
            self._gold_refused = False
            if self.gold_waits < GOLD_WAITS:
                self.gold_waits += 1
                return "wait1"
            self.gold_waits = 0
            self._gold_stand_in = self._stand_in(self.gold[self.gold_pos])
            if self._gold_stand_in:
                return self._gold_stand_in
            self.gold_pos += 1
        next_gold = self.gold[self.gold_pos] if self.gold_pos < len(self.gold) else "look around"
        if self._last.startswith(AMBIGUOUS) and not next_gold.isdigit():
            return "0"  # a prompt the gold path did not meet: the objects it lists are alike, take the first
        return next_gold

    def _stand_in(self, action: str) -> str:
        verb = action.split(" ", 1)[0] + " "
        valid = [a for a in map(str, self.sim.get_valid_action_object_combinations()) if a.startswith(verb)]
        alike = difflib.get_close_matches(action, valid, n=1, cutoff=0.7)
        return _normal(alike[0]) if alike else ""

    def render(self) -> str | None:
        """The last observation in ``"ansi"`` mode."""
        return self._last if self.render_mode == "ansi" else None

    def __deepcopy__(self, memo: dict) -> ScienceWorldEnv:
        raise TypeError("a ScienceWorld env runs in a JVM and cannot be copied (no tree search on it)")

    def close(self) -> None:
        """Hand the simulator back to the pool."""
        sim, self.sim = self.sim, None
        if sim is not None:
            POOL.give_back(sim)

    def _emit(self, text: str) -> str:
        self._last = _sorted_lists(text)[:MAX_OBSERVATION_CHARS]
        return self._last

    def _info(self, valid: bool) -> dict[str, Any]:
        info = {"won": self.is_won, "goal": self.goal, "valid": valid, "score": self.score,
                "task_id": self.task_id, "task_type": self.task_name, "variation": self.variation,
                "split": self.split, "step": self.steps_taken}
        if self.admissible:
            # Sorted for the same reason as the observations' lists: the JVM returns them in varying order.
            info["admissible_actions"] = sorted(str(a) for a in self.sim.get_valid_action_object_combinations())
            info["admissible_complete"] = False
        return info


def _sorted_lists(text: str) -> str:
    """The text with each run of lines indented by one tab sorted (runs with deeper lines kept as they are)."""
    lines, out, run = text.split("\n"), [], []

    def flush() -> None:
        out.extend(run if any(line.startswith("\t\t") for line in run) else sorted(run))
        run.clear()

    for line in lines:
        if line.startswith("\t"):
            run.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out)


def _normal(action: Any) -> str:
    return " ".join(str(action).split())


class ScienceWorldSuite(IndexedSuite):
    """Variations of one task type, or of all 30 taken in turn (``task=None``).

    In the all-tasks suite, index i is variation ``i // 30`` of the ``i % 30``-th task (by name)
    among those whose split has that many, so any prefix of a split covers the task types evenly.
    """

    default_split = "test"

    def __init__(self, task: str | None = None) -> None:
        self.tasks = [task] if task else TASKS
        sizes = {s: sum(SPLIT_SIZES[t][i] for t in self.tasks) for i, s in enumerate(SPLITS)}
        what = f"ScienceWorld task {task!r}" if task else "ScienceWorld's 30 task types, taken in turn"
        super().__init__(env_id=ENV_ID, name=task or "scienceworld", splits=list(SPLITS), sizes=sizes,
                         description=f"{what}; the splits are ScienceWorld's own variation splits.")

    def task_ids(self, split: str, n: int | None = None, start: int = 0) -> list[str]:
        """Task ids ``"<task>:<split>-<k>"`` of positions start..start+n of the split."""
        positions = super().task_ids(split, n, start)
        order = self._order(split)
        return [order[int(p.rpartition("-")[2])] for p in positions]

    def _order(self, split: str) -> list[str]:
        column = SPLITS.index(split)
        longest = max(SPLIT_SIZES[t][column] for t in self.tasks)
        return [f"{t}:{split}-{k}" for k in range(longest) for t in self.tasks if k < SPLIT_SIZES[t][column]]


def all_tasks_suite() -> ScienceWorldSuite:
    return ScienceWorldSuite()


def load_suite(name: str) -> ScienceWorldSuite:
    """The suite of one task type by name (``"boil"``).

    Raises:
        ConfigError: No ScienceWorld task has this name.
    """
    if name not in SPLIT_SIZES:
        raise ConfigError(f"unknown ScienceWorld suite {name!r}.{suggest(name, TASKS)} Suites: scienceworld, "
                          + ", ".join(TASKS))
    return ScienceWorldSuite(name)
