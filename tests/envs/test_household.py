"""mulligan/Household-v0: the gymnasium contract, the expert, the splits, and the rules."""

from __future__ import annotations

import copy
import random
import re
import subprocess
import sys
import warnings
from collections import Counter

import gymnasium as gym
import pytest
from env_check_warnings import check_env_warnings
from gymnasium.utils.env_checker import check_env

import mulligan.envs as envs
from mulligan.envs.household import HouseholdEnv, HouseholdSuite, build_world, plan, solve
from mulligan.envs.household.generate import layout_signature
from mulligan.envs.household.grammar import normalize, parse
from mulligan.envs.household.rooms import TASK_TYPES
from mulligan.envs.household.suites import combo_held_out, layout_held_out
from mulligan.envs.household.world import NOTHING
from mulligan.envs.suites import Suite
from mulligan.errors import ConfigError, EnvError

ENV_ID = "mulligan/Household-v0"
SPLITS = ("train", "seen", "unseen")


def reset(env: HouseholdEnv, task_id: str) -> tuple[str, dict]:
    return env.reset(options={"task": task_id})


def find_task(predicate, split: str = "train", limit: int = 500) -> str:
    """The first task id of a split whose fresh world satisfies predicate(world)."""
    for i in range(limit):
        if predicate(build_world(f"{split}-{i}")):
            return f"{split}-{i}"
    raise AssertionError("no task found")


# ---- gymnasium contract ------------------------------------------------------------------------


def test_check_env_direct():
    assert check_env_warnings(HouseholdEnv()) == []


@pytest.mark.parametrize(
    "make", [lambda: gym.make(ENV_ID), lambda: envs.make_env(ENV_ID)], ids=["gym.make", "make_env"]
)
def test_check_env_through_make(make):
    env = make()
    assert isinstance(env.unwrapped, HouseholdEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "different from the unwrapped version": the wrappers are expected
        check_env(env)
    check_env(env.unwrapped)
    obs, info = env.reset(options={"task": "seen-4"})
    obs2, *_ = env.step(env.unwrapped.expert_action())
    assert obs in env.observation_space and obs2 in env.observation_space


def test_info_on_reset_and_step():
    env = HouseholdEnv()
    obs, info = reset(env, "train-3")
    assert obs.startswith("You are in the middle of a room. Looking quickly around you, you see a ")
    assert obs.endswith(f"\n\nYour task is to: {info['goal']}")
    for data in (info, env.step("look")[4]):
        assert set(data) >= {"won", "admissible_actions", "goal", "task_id", "task_type", "valid", "tools"}
        assert data["task_id"] == "train-3" and data["task_type"] in TASK_TYPES and data["won"] is False
        assert all(isinstance(a, str) for a in data["admissible_actions"]) and "look" in data["admissible_actions"]
        (tool,) = data["tools"]
        assert tool["type"] == "function" and tool["function"]["name"] == "act"
        assert tool["function"]["parameters"]["required"] == ["command"]
        assert "put <object> in/on <receptacle>" in tool["function"]["description"]


def test_reset_without_task_draws_train_task_from_seed():
    env = HouseholdEnv()
    a = env.reset(seed=7)
    b = env.reset(seed=7)
    assert a[0] == b[0] and a[1]["task_id"] == b[1]["task_id"] and a[1]["task_id"].startswith("train-")
    assert env.reset(seed=8)[1]["task_id"] != a[1]["task_id"]
    assert env.reset(seed=7, options={"split": "unseen"})[1]["task_id"].startswith("unseen-")
    assert HouseholdEnv(task="seen-5").reset()[1]["task_id"] == "seen-5"


@pytest.mark.parametrize("bad", ["nope", "train-x", "test-3", "train--1", 17])
def test_bad_task_id_raises_env_error(bad):
    with pytest.raises(EnvError):
        HouseholdEnv().reset(options={"task": bad})


def test_bad_constructor_arguments():
    with pytest.raises(ConfigError):
        HouseholdEnv(max_steps=0)
    with pytest.raises(ConfigError):
        HouseholdEnv(render_mode="human")
    with pytest.raises(ConfigError):
        envs.make_env(ENV_ID, no_such_argument=1)


# ---- expert ------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_search_expert_wins_every_task(split):
    env = HouseholdEnv()
    lengths = []
    for i in range(1000):
        obs, info = reset(env, f"{split}-{i}")
        assert obs in env.observation_space
        for t in range(1, env.max_steps + 1):
            action = env.unwrapped.expert_action()
            assert action in info["admissible_actions"]
            obs, reward, terminated, truncated, info = env.step(action)
            assert info["valid"] and obs in env.observation_space
            if terminated or truncated:
                break
        assert info["won"] and terminated and not truncated and reward == 1.0, f"{split}-{i}"
        lengths.append(t)
    assert max(lengths) < env.max_steps


@pytest.mark.parametrize("split", SPLITS)
def test_direct_expert_wins_and_is_shorter(split):
    for i in range(200):
        direct = solve(f"{split}-{i}", mode="direct")
        search = solve(f"{split}-{i}", mode="search")
        assert direct.won and search.won
        assert len(direct.steps) <= len(search.steps)


def test_search_expert_only_uses_what_it_has_seen():
    """Before taking the object, the expert visits receptacles in listed order and opens closed ones."""
    for i in range(100):
        env = HouseholdEnv()
        obs, _ = reset(env, f"train-{i}")
        listed = [r.name for r in env.world.receptacles]
        visited: list[str] = []
        while env.world.holding is None:
            step = env.expert_plan()
            if step.action.startswith("go to "):
                visited.append(step.action[len("go to "):])
                assert step.subgoal.startswith("find ")
            env.step(step.action)
        assert visited == listed[: len(visited)]


def test_expert_subgoals():
    env = HouseholdEnv()
    task_id = find_task(lambda w: w.task.task_type == "pick_clean_then_place")
    reset(env, task_id)
    obj, target = env.world.task.obj_type, env.world.task.target
    subgoals = []
    while True:
        subgoals.append(env.expert_subgoal())
        *_, terminated, truncated, _ = env.step(env.expert_action())
        if terminated or truncated:
            break
    assert subgoals[0] == f"find {obj}" or subgoals[0] == f"take {obj}"
    assert f"clean {obj}" in subgoals and subgoals[-1] == f"put {obj} in {target}"
    assert env.expert_plan().subgoal == "done"


def test_expert_recovers_from_arbitrary_states():
    """The expert continues episodes another agent left in odd states (for revision data)."""
    rng = random.Random(0)
    for i in range(150):
        env = HouseholdEnv(max_steps=120)
        _, info = reset(env, f"{SPLITS[i % 3]}-{i}")
        for _ in range(rng.randint(1, 20)):
            _, _, terminated, _, info = env.step(rng.choice(info["admissible_actions"]))
            if terminated:
                break
        while not (info["won"] or env.steps_taken >= env.max_steps):
            _, _, _, _, info = env.step(env.expert_action())
        assert info["won"], f"task {i}"


def test_expert_rejects_unknown_mode():
    env = HouseholdEnv()
    reset(env, "train-0")
    with pytest.raises(ConfigError):
        env.expert_action(mode="psychic")


# ---- splits ------------------------------------------------------------------------------------


def test_splits_are_disjoint_by_construction():
    fingerprints, layouts, combos, types = {}, {}, {}, {}
    for split in SPLITS:
        worlds = [build_world(f"{split}-{i}") for i in range(1500)]
        fingerprints[split] = {w.fingerprint() for w in worlds}
        types[split] = Counter(w.task.task_type for w in worlds)
        layouts[split] = {layout_signature(w.kind, _counts(w)) for w in worlds}
        combos[split] = {w.task.combo for w in worlds}
        assert len(fingerprints[split]) > 1400
    for a, b in (("train", "seen"), ("train", "unseen"), ("seen", "unseen")):
        assert not fingerprints[a] & fingerprints[b], (a, b)
    for split in ("train", "seen"):
        assert not layouts["unseen"] & layouts[split]
        assert not combos["unseen"] & combos[split]
        assert not any(layout_held_out(s) for s in layouts[split])
        assert not any(combo_held_out(c) for c in combos[split])
    assert all(layout_held_out(s) for s in layouts["unseen"]) and all(combo_held_out(c) for c in combos["unseen"])
    # train and seen share a distribution (here: of task types, within 5 points).
    assert all(abs(types["train"][t] - types["seen"][t]) / 1500 < 0.05 for t in TASK_TYPES)


def _counts(world) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in world.receptacles:
        counts[r.type] = counts.get(r.type, 0) + 1
    return counts


def test_same_id_same_world():
    for task_id in ("train-0", "seen-11", "unseen-199", "train-123456789"):
        a, b = HouseholdEnv(), HouseholdEnv()
        obs_a, info_a = reset(a, task_id)
        obs_b, info_b = reset(b, task_id)
        assert obs_a == obs_b and info_a == info_b
        assert build_world(task_id).fingerprint() == a.world.fingerprint()
        for _ in range(10):
            action = a.expert_action()
            assert a.step(action) == b.step(action)
    assert build_world("train-0").fingerprint() != build_world("train-1").fingerprint()


@pytest.mark.parametrize("split", SPLITS)
def test_every_task_type_is_generated_and_solvable(split):
    seen_types: dict[str, str] = {}
    for i in range(300):
        world = build_world(f"{split}-{i}")
        seen_types.setdefault(world.task.task_type, f"{split}-{i}")
    assert set(seen_types) == set(TASK_TYPES)
    for task_type, task_id in seen_types.items():
        demo = solve(task_id)
        assert demo.won and demo.task_type == task_type


def test_task_phrasings_and_sensible_combinations():
    from mulligan.envs.household.rooms import COOLABLE, HEATABLE, CLEANABLE, LAMPS

    for i in range(600):
        task = build_world(f"train-{i}").task
        assert task.goal.endswith(".") and task.obj_type in task.goal and task.target in task.goal
        if task.task_type == "pick_heat_then_place":
            assert task.obj_type in HEATABLE and task.target != "microwave"
        if task.task_type == "pick_cool_then_place":
            assert task.obj_type in COOLABLE and task.target != "fridge"
        if task.task_type == "pick_clean_then_place":
            assert task.obj_type in CLEANABLE and task.target != "sinkbasin"
        if task.task_type == "look_at_obj_in_light":
            assert task.target in LAMPS


def test_rooms_are_modest():
    for i in range(300):
        world = build_world(f"unseen-{i}")
        assert 8 <= len(world.receptacles) <= 16
        assert not world.won()


# ---- actions and rules -------------------------------------------------------------------------


JUNK = [
    "", None, 42, 3.5, b"go to cabinet 1", ["look"], "x" * 10_000, "\x00\xff\u2603 \U0001f600", "go to",
    "go to nowhere 1", "take", "put mug 1", "\U0001f642" * 300, " \n\t ", "go to cabinet 99", "open the door",
    "look around",
]


def test_malformed_actions_never_raise_and_count_as_steps():
    env = HouseholdEnv(max_steps=len(JUNK) + 5)
    reset(env, "train-2")
    for n, action in enumerate(JUNK, start=1):
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs == NOTHING and info["valid"] is False and reward == 0.0 and not terminated and not truncated
        assert info["step"] == n == env.steps_taken


def test_forgiving_parsing():
    assert normalize('  "Go  To  Cabinet 1."  ') == "go to cabinet 1"
    assert normalize("'look'.") == "look"
    assert parse("put mug 1 on  Cabinet 2").args == ("mug 1", "cabinet 2")
    assert parse("put mug 1 in cabinet 2") == parse("put mug 1 in/on cabinet 2") == parse("PUT MUG 1 ON CABINET 2.")
    assert parse("go to cabinet") is None and parse("go to cabinet 1 now") is None

    def surface_with_object(world):
        return next(
            (r for r in world.receptacles if not r.openable and any(world.items[n].takeable for n in r.contents)), None
        )

    env = HouseholdEnv()
    reset(env, find_task(surface_with_object))
    r = surface_with_object(env.world)
    item = next(n for n in r.contents if env.world.items[n].takeable)
    obs, *_ = env.step(f"  GO TO {r.name.upper()}.  ")
    assert obs.startswith(f"You arrive at {r.name}.")
    kind, num = item.split()
    variants = (
        f"TAKE  {kind.title()} {num} FROM {r.name}.", f'"take {item} from {r.name}"', f"take {item} from {r.name} ."
    )
    for variant in variants:
        obs, _, _, _, info = env.step(variant)
        assert obs == f"You pick up the {item} from the {r.name}." and info["valid"]
        for put in (f"put {item} in {r.name}", f"put {item} on {r.name}", f"put {item} in/on {r.name}"):
            if env.world.holding is None:
                env.step(f"take {item} from {r.name}")
            obs, *_ = env.step(put)
            assert obs == f"You put the {item} in/on the {r.name}."


def test_closed_receptacles_hide_contents():
    task_id = find_task(lambda w: any(r.openable and r.contents for r in w.receptacles))
    env = HouseholdEnv()
    reset(env, task_id)
    r = next(r for r in env.world.receptacles if r.openable and r.contents)
    item = r.contents[0]
    obs, _, _, _, info = env.step(f"go to {r.name}")
    assert obs == f"You arrive at {r.name}. The {r.name} is closed." and item not in obs
    assert not any(item in a for a in info["admissible_actions"]) and f"open {r.name}" in info["admissible_actions"]
    for hidden in (f"take {item} from {r.name}", f"examine {item}"):
        assert env.step(hidden)[0] == NOTHING
    obs, _, _, _, info = env.step(f"open {r.name}")
    assert obs.startswith(f"You open the {r.name}. The {r.name} is open. In it, you see ") and item in obs
    assert f"examine {item}" in info["admissible_actions"]
    assert env.step(f"open {r.name}")[0] == NOTHING
    assert env.step(f"close {r.name}")[0] == f"You close the {r.name}."
    assert env.step(f"take {item} from {r.name}")[0] == NOTHING
    assert env.step("inventory")[0] == "You are not carrying anything."


def test_step_cap_truncates_and_is_not_a_win():
    env = HouseholdEnv(max_steps=3)
    reset(env, "train-1")
    results = [env.step("look") for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]
    assert all(not r[2] and r[1] == 0.0 and not r[4]["won"] for r in results)

    # A win on the last allowed step is a win, not a truncation.
    n = len(solve("train-1", mode="direct").steps)
    env = HouseholdEnv(max_steps=n)
    reset(env, "train-1")
    for _ in range(n):
        obs, reward, terminated, truncated, info = env.step(env.expert_action(mode="direct"))
    assert terminated and not truncated and info["won"] and reward == 1.0


def test_reward_only_on_the_winning_step():
    demo = solve("seen-7")
    assert [s.reward for s in demo.steps] == [0.0] * (len(demo.steps) - 1) + [1.0]
    assert [s.won for s in demo.steps] == [False] * (len(demo.steps) - 1) + [True]


def test_look_task_needs_the_object_in_hand_under_the_lamp():
    task_id = find_task(lambda w: w.task.task_type == "look_at_obj_in_light")
    env = HouseholdEnv()
    reset(env, task_id)
    world = env.world
    lamp = next(i for i in world.items.values() if i.type == world.task.target)
    env.step(f"go to {lamp.loc}")
    assert env.step(f"use {lamp.name}")[0] == f"You turn on the {lamp.name}."
    assert not world.won()
    assert env.step(f"use {lamp.name}")[0] == f"You turn off the {lamp.name}."
    assert env.step(f"take {lamp.name} from {lamp.loc}")[0] == NOTHING
    steps = []
    while True:
        steps.append(env.expert_action(mode="direct"))
        *_, terminated, _, info = env.step(steps[-1])
        if terminated:
            break
    assert info["won"] and steps[-1] in (f"use {lamp.name}", f"go to {lamp.loc}")
    assert world.items[world.holding].type == world.task.obj_type


def test_admissible_actions_are_all_valid():
    """From sampled states, every admissible action does something (never "Nothing happens.")."""
    rng = random.Random(1)
    env = HouseholdEnv(max_steps=1000)
    checked = 0
    for i in range(36):
        _, info = reset(env, f"{SPLITS[i % 3]}-{i}")
        for t in range(16):
            snapshot = copy.deepcopy(env.world)
            for action in info["admissible_actions"]:
                env.world = copy.deepcopy(snapshot)
                obs, _, _, _, step_info = env.step(action)
                assert obs != NOTHING and step_info["valid"], (i, t, action)
                checked += 1
            env.world = snapshot
            # Walk on: mostly the expert (reaching deep states), sometimes a random admissible action.
            action = rng.choice(info["admissible_actions"]) if rng.random() < 0.4 else env.expert_action()
            _, _, terminated, _, info = env.step(action)
            if terminated:
                break
    assert checked > 2000


def test_invalid_commands_in_valid_form():
    env = HouseholdEnv()
    reset(env, find_task(lambda w: w.task.task_type == "pick_heat_then_place"))
    world = env.world
    cases = ["go to microwave 7", "open countertop 1", "close cabinet 1", "use desklamp 1", "put mug 1 in/on fridge 1",
             "heat apple 1 with microwave 1", "examine fridge 1"]
    for action in cases:
        assert env.step(action)[0] == NOTHING, action
    env.step("go to microwave 1")
    assert env.step("go to microwave 1")[0] == NOTHING
    assert env.step("examine microwave 1")[0] == "The microwave 1 is closed."
    assert world.location == "microwave 1"


# ---- suites and catalogue ----------------------------------------------------------------------


def test_suite_api():
    suite = envs.get_suite(ENV_ID)
    assert isinstance(suite, Suite) and isinstance(suite, HouseholdSuite)
    assert suite.env_id == ENV_ID and suite.name == "household" and suite.splits == list(SPLITS)
    assert suite.task_ids("unseen", 3, start=197) == ["unseen-197", "unseen-198", "unseen-199"]
    assert "unseen" in suite.describe()
    with pytest.raises(ConfigError):
        suite.task_ids("train")  # unlimited: n is required
    with pytest.raises(ConfigError, match="Did you mean 'seen'"):
        suite.task_ids("sen", 3)


def test_catalogue():
    (info,) = [e for e in envs.list_envs() if e.id == ENV_ID]
    assert [(s.name, s.splits) for s in info.suites] == [("household", ["train", "seen", "unseen"])]
    assert info.description
    assert ENV_ID in gym.registry
    with pytest.raises(ConfigError, match="Did you mean 'mulligan/Household-v0'"):
        envs.make_env("mulligan/Househld-v0")
    with pytest.raises(ConfigError, match="Did you mean"):
        envs.get_suite("mulligan/household-v0")
    with pytest.raises(ConfigError):
        envs.get_suite(ENV_ID, "nope")
    env = envs.make_env(ENV_ID, max_steps=7)
    assert env.unwrapped.max_steps == 7 and env.spec.id == ENV_ID


def test_envs_package_imports_nothing_above_it():
    code = (
        "import sys, mulligan.envs, mulligan.envs.household.env;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'litellm', 'docker')"
        " or m.startswith(('mulligan.llm', 'mulligan.agents', 'mulligan.runner', 'mulligan.training'))];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- the expert's thoughts ---------------------------------------------------------------------

_NAMED = re.compile(r"\b[a-z]+ \d+\b")


def test_expert_thoughts_name_only_what_the_agent_has_observed():
    """Every thing a thought names was in an observation already (never the hidden state), and
    the thought ends with the command it leads to."""
    rng = random.Random(1)
    for i in range(300):
        env = HouseholdEnv()
        obs, info = reset(env, f"{SPLITS[i % 3]}-{i}")
        seen = set(_NAMED.findall(obs))
        while True:
            step = env.expert_plan()
            assert step.thought.startswith("Task: "), step.thought
            assert set(_NAMED.findall(step.thought)) <= seen | set(_NAMED.findall(step.action)), (i, step.thought)
            assert step.thought.endswith(f"{step.action}.") or step.action.startswith(("go to", "open")), step.thought
            # A few random detours, so thoughts are checked off the expert's path too.
            action = rng.choice(info["admissible_actions"]) if rng.random() < 0.15 else step.action
            obs, _, terminated, truncated, info = env.step(action)
            seen |= set(_NAMED.findall(obs))
            if terminated or truncated:
                break


def test_expert_thought_restates_the_task_and_says_when_a_command_did_nothing():
    env = HouseholdEnv()
    reset(env, "unseen-13")  # "clean some plate and put it in shelf."
    assert env.expert_thought().startswith("Task: put a clean plate in shelf. Looking for plate: try ")
    env.step("go to the moon")
    assert env.expert_thought().startswith("Task: put a clean plate in shelf. That did nothing. ")


def test_expert_goes_where_remembered_facts_say():
    """With the starting contents of a receptacle known (a lesson), the expert goes straight there."""
    env = HouseholdEnv()
    reset(env, "unseen-3")  # the alarmclock is on shelf 1, the 15th place in listed order
    step = env.expert_plan(known=["shelf 1"])
    assert step.action == "go to shelf 1" and "alarmclock 1 should be in shelf 1" in step.thought
    step = env.expert_plan(first=["shelf 2", "shelf 1"])
    assert step.action == "go to shelf 2"
    steps = 0
    while not env.is_won:
        env.step(env.expert_plan(known=["shelf 1"]).action)
        steps += 1
    assert steps == 4  # go to shelf 1, take, go to sidetable 1, put
