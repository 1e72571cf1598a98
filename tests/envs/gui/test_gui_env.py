"""mulligan/Gui-v0: the gymnasium contract, the expert, the splits, actions and irreversible steps."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections import Counter

import gymnasium as gym
import pytest
from env_check_warnings import check_env_warnings
from gymnasium.utils.env_checker import check_env

import mulligan.envs as envs
from mulligan.agents.parsing import parse_react
from mulligan.envs.gui import TEMPLATES, GuiAction, GuiEnv, GuiSuite, build_task, combo_held_out, parse
from mulligan.errors import ConfigError, EnvError

ENV_ID = "mulligan/Gui-v0"
SPLITS = ("train", "seen", "unseen")
APPS = {"Settings", "Mail", "Shop", "Notes"}


def find_task(template: str, split: str = "train", limit: int = 3000) -> str:
    for i in range(limit):
        task, _ = build_task(f"{split}-{i}")
        if task.template == template:
            return f"{split}-{i}"
    raise AssertionError(f"no {template} task in {split}")


def element(info: dict, label: str, role: str | None = None) -> dict:
    (found,) = [e for e in info["elements"] if e["label"] == label and role in (None, e["role"])]
    return found


def run_expert(env: GuiEnv, task_id: str) -> tuple[dict, int]:
    env.reset(options={"task": task_id})
    for t in range(1, env.max_steps + 1):
        obs, reward, terminated, truncated, info = env.step(env.expert_action())
        assert obs in env.observation_space
        if terminated or truncated:
            return info | {"reward": reward, "terminated": terminated, "truncated": truncated}, t
    raise AssertionError("unreachable")


# ---- gymnasium contract ------------------------------------------------------------------------


@pytest.mark.parametrize("render_mode", [None, "rgb_array", "ansi"])
def test_check_env_direct(render_mode):
    assert check_env_warnings(GuiEnv(render_mode=render_mode)) == []


def test_check_env_through_make():
    env = envs.make_env(ENV_ID)
    assert isinstance(env.unwrapped, GuiEnv) and env.spec.id == ENV_ID and ENV_ID in gym.registry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    obs, info = env.reset(options={"task": "seen-4"})
    obs2, *_ = env.step(env.unwrapped.expert_action())
    assert obs in env.observation_space and obs2 in env.observation_space


def test_info_and_first_observation():
    env = GuiEnv()
    obs, info = env.reset(options={"task": "train-3"})
    assert obs.startswith("Screen: Home\n[1] button \"Settings\"") and obs.endswith(f"Your task is to: {info['goal']}")
    assert 'type(id, "text")' in obs
    for data in (info, env.step("click(2)")[4]):
        assert set(data) >= {"won", "failed", "goal", "goal_slots", "task_id", "task_type", "app", "valid",
                             "elements", "irreversible", "effect", "tools"}
        assert data["task_type"] in TEMPLATES and data["app"] in APPS and data["won"] is False
        assert [t["function"]["name"] for t in data["tools"]] == ["click", "type", "scroll", "back", "answer"]
        assert all({"id", "role", "label", "bbox", "irreversible"} <= set(e) for e in data["elements"])


def test_reset_without_task_draws_from_seed_and_bad_ids():
    env = GuiEnv()
    a, b = env.reset(seed=7), env.reset(seed=7)
    assert a[0] == b[0] and a[1]["task_id"] == b[1]["task_id"] and a[1]["task_id"].startswith("train-")
    assert env.reset(seed=7, options={"split": "unseen"})[1]["task_id"].startswith("unseen-")
    assert GuiEnv(task="seen-5").reset()[1]["task_id"] == "seen-5"
    for bad in ("nope", "train-x", "test-3", 17):
        with pytest.raises(EnvError):
            env.reset(options={"task": bad})
    with pytest.raises(ConfigError):
        GuiEnv(max_steps=0)
    with pytest.raises(ConfigError):
        GuiEnv(render_mode="human")


# ---- expert and splits -------------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_expert_wins_every_task(split):
    env = GuiEnv()
    templates, lengths = Counter(), []
    for i in range(1000):
        info, steps = run_expert(env, f"{split}-{i}")
        assert info["won"] and info["terminated"] and info["reward"] == 1.0 and not info["failed"], f"{split}-{i}"
        templates[info["task_type"]] += 1
        lengths.append(steps)
    assert set(templates) == set(TEMPLATES) and len(TEMPLATES) >= 30
    assert {TEMPLATES[t][0] for t in templates} == APPS
    assert 3 < sum(lengths) / len(lengths) < 10


def test_expert_finishes_what_another_agent_started():
    env = GuiEnv()
    env.reset(options={"task": find_task("send_mail")})
    for action in ("click(3)", "click(1)", "back()", "click(2)", "click(1)", 'type(1, "Somebody")'):
        env.step(action)
    for _ in range(env.max_steps):
        *_, terminated, _, info = env.step(env.expert_action())
        if terminated:
            break
    assert info["won"]


def test_splits_are_disjoint_by_construction():
    combos, fingerprints = {}, {}
    for split in SPLITS:
        tasks = [build_task(f"{split}-{i}")[0] for i in range(1500)]
        combos[split] = {(t.template, t.spec.combo) for t in tasks}
        fingerprints[split] = {t.fingerprint for t in tasks}
        assert len(fingerprints[split]) > 1400
        assert all(combo_held_out(*c) == (split == "unseen") for c in combos[split])
    for split in ("train", "seen"):
        assert not combos["unseen"] & combos[split]
    assert not fingerprints["train"] & fingerprints["seen"]
    assert build_task("seen-9")[0].fingerprint == build_task("seen-9")[0].fingerprint


def test_suite_and_catalogue():
    suite = envs.get_suite(ENV_ID)
    assert isinstance(suite, GuiSuite) and suite.splits == list(SPLITS)
    assert suite.task_ids("unseen", 2, start=5) == ["unseen-5", "unseen-6"]
    (info,) = [e for e in envs.list_envs() if e.id == ENV_ID]
    assert [(s.name, s.splits) for s in info.suites] == [("gui", list(SPLITS))]


# ---- actions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("click(3)", GuiAction("click", 3)), ("Click [3].", GuiAction("click", 3)), ("tap 3", GuiAction("click", 3)),
    ("click(id=3)", GuiAction("click", 3)), ('click({"id": 3})', GuiAction("click", 3)),
    ('type(5, "hello, world")', GuiAction("type", 5, "hello, world")), ("type 5 hello", GuiAction("type", 5, "hello")),
    ('type(id=5, text="hi")', GuiAction("type", 5, "hi")),
    ('type({"id": 5, "text": "hi"})', GuiAction("type", 5, "hi")),
    ("scroll(down)", GuiAction("scroll", text="down")), ('scroll("UP")', GuiAction("scroll", text="up")),
    ("back()", GuiAction("back")), ("go back", GuiAction("back")), ("back({})", GuiAction("back")),
    ('answer("Marimba")', GuiAction("answer", text="Marimba")), ("answer: $8.99", GuiAction("answer", text="$8.99")),
])
def test_forgiving_action_parsing(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "dance(3)", "click()", "click(abc)", "type(3)", "scroll(left)",
                                  "answer()", "click(3", None, 42, ["click(3)"]])
def test_malformed_actions_get_feedback_and_count_as_steps(text):
    env = GuiEnv(max_steps=3)
    before, _ = env.reset(options={"task": "train-1"})
    obs, reward, terminated, truncated, info = env.step(text)
    assert not info["valid"] and reward == 0.0 and not terminated and info["step"] == 1
    assert "Actions: click(id)" in obs or "needs" in obs
    assert obs.endswith(before.split("\n\n")[0])  # the same screen is shown again


def test_invalid_targets_are_answered():
    env = GuiEnv()
    env.reset(options={"task": "train-1"})
    assert "no element [99]" in env.step("click(99)")[0]
    assert "not a textbox" in env.step('type(1, "x")')[0]
    assert "nothing to scroll" in env.step("scroll(down)")[0]
    assert "already on the home screen" in env.step("back()")[0]
    assert env.step("click(3)")[4]["screen"] == "Shop"
    env.step("click(1)")  # the cart
    obs, *_, info = env.step("click(3)")
    assert "disabled" in obs and not info["valid"]  # checkout of an empty cart


def test_react_parser_reads_gui_actions():
    assert parse_react('Thought: open it\nAction: type(5, "hello world")').action == 'type(5, "hello world")'
    assert parse_react("Action: click(3)").action == "click(3)"


def test_scrolling_reveals_hidden_items():
    env = GuiEnv()
    env.reset(options={"task": find_task("ringtone")})
    for action in ("click(1)", "click(7)", "click(6)"):
        obs, *_, info = env.step(action)
    assert info["screen"] == "Ringtone" and "7 more below" in obs
    visible = [e["label"] for e in info["elements"] if e["role"] == "radio"]
    obs, *_, info = env.step("scroll(down)")
    assert info["valid"] and [e["label"] for e in info["elements"] if e["role"] == "radio"] != visible
    while env.step("scroll(down)")[4]["valid"]:
        pass
    assert "0 more below" in env.unwrapped.screen.text()


# ---- irreversible actions and answers ----------------------------------------------------------


def open_mail(env: GuiEnv, info: dict, label: str) -> dict:
    info = env.step(f"click({element(info, 'Mail')['id']})")[4]
    for _ in range(3):
        matches = [e for e in info["elements"] if e["label"] == label]
        if matches:
            return env.step(f"click({matches[0]['id']})")[4]
        info = env.step("scroll(down)")[4]
    raise AssertionError(label)


def test_a_wrong_irreversible_click_fails_the_task_for_good():
    env = GuiEnv()
    task_id = find_task("delete_mail")
    _, info = env.reset(options={"task": task_id})
    task, world = build_task(task_id)
    slots = info["goal_slots"]
    other = next(m for m in world.inbox() if m.subject != slots["subject"])
    info = open_mail(env, info, f"{other.sender}: {other.subject}")
    delete = element(info, "Delete")
    assert delete["irreversible"] and delete["id"] in info["irreversible"]
    assert delete["effect"] == {"kind": "delete_mail", "from": other.sender, "subject": other.subject}
    obs, reward, terminated, truncated, info = env.step(f"click({delete['id']})")
    assert terminated and info["failed"] and not info["won"] and reward == 0.0 and "cannot be undone" in obs
    assert info["effect"]["subject"] == other.subject


def test_the_right_irreversible_click_wins():
    env = GuiEnv()
    _, info = env.reset(options={"task": find_task("delete_mail")})
    slots = info["goal_slots"]
    info = open_mail(env, info, f"{slots['from']}: {slots['subject']}")
    *_, terminated, _, info = env.step(f"click({element(info, 'Delete')['id']})")
    assert terminated and info["won"] and not info["failed"]


def test_paying_for_the_wrong_cart_fails():
    env = GuiEnv()
    task_id = next(t for t in (f"train-{i}" for i in range(3000))
                   if build_task(t)[0].template == "buy_one" and build_task(t)[1].cart)
    _, info = env.reset(options={"task": task_id})
    for label in ("Shop", "Cart (1)", "Checkout"):
        info = env.step(f"click({element(info, label)['id']})")[4]
    info = env.step(f'type({element(info, "Address")["id"]}, "{info["goal_slots"]["address"]}")')[4]
    pay = element(info, "Pay now")
    assert pay["irreversible"] and pay["effect"]["items"] != info["goal_slots"]["items"]
    *_, terminated, _, info = env.step(f"click({pay['id']})")
    assert terminated and info["failed"] and not info["won"]


def test_answers_end_the_episode():
    env = GuiEnv()
    task_id = find_task("ask_price")
    _, info = env.reset(options={"task": task_id})
    expected = build_task(task_id)[0].spec.answer
    obs, reward, terminated, _, info = env.step(f'answer("{expected}")')
    assert terminated and info["won"] and reward == 1.0
    env.reset(options={"task": task_id})
    *_, terminated, _, info = env.step('answer("$0.01")')
    assert terminated and not info["won"]
    env.reset(options={"task": find_task("toggle_on")})
    obs, _, terminated, _, info = env.step('answer("done")')
    assert terminated and not info["won"] and "not done" in obs


def test_step_cap_truncates_and_is_not_a_win():
    env = GuiEnv(max_steps=2)
    env.reset(options={"task": "train-2"})
    env.step("click(1)")
    *_, terminated, truncated, info = env.step("back()")
    assert truncated and not terminated and not info["won"]


def test_envs_package_imports_nothing_above_it():
    code = ("import sys, mulligan.envs, mulligan.envs.gui.env, mulligan.envs.adapters.miniwob;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'litellm', 'docker', "
            "'PIL', 'selenium', 'miniwob') or m.startswith(('mulligan.llm', 'mulligan.agents', 'mulligan.runner', "
            "'mulligan.training', 'mulligan.reflection'))];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
