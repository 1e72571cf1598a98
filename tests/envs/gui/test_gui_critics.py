"""GUI critics: the pre-operative critic blocks wrong irreversible actions; MobileUse's levels fire."""

from __future__ import annotations

import asyncio
import json

import pytest

from mulligan.agents import make_agent
from mulligan.envs import make_env
from mulligan.envs.gui import GuiEnv, build_task
from mulligan.llm import ScriptedLLM
from mulligan.records import Step
from mulligan.reflection import GuiCritic, Proposal, action_outcome, make_critic, outcome_critic

ENV_ID = "mulligan/Gui-v0"


def find_task(template: str, split: str = "train") -> str:
    return next(f"{split}-{i}" for i in range(3000) if build_task(f"{split}-{i}")[0].template == template)


def run(agent: str, task_id: str, replies: list[str], **options):
    env = make_env(ENV_ID)
    try:
        (traj,) = asyncio.run(make_agent(agent, ScriptedLLM(replies), **options).run_task(env, task_id, key=task_id))
    finally:
        env.close()
    return traj


def ids_for(task_id: str, path: list[str]) -> list[int]:
    """The ids of the elements labelled ``path``, clicked one after another from the home screen."""
    env = GuiEnv()
    _, info = env.reset(options={"task": task_id})
    out = []
    for label in path:
        (e,) = [e for e in info["elements"] if e["label"] == label]
        out.append(e["id"])
        info = env.step(f"click({e['id']})")[4]
    return out


@pytest.fixture(scope="module")
def delete_task():
    """A delete_mail task whose target and a wrong mail are both on the first inbox page."""
    for i in range(3000):
        task_id = f"train-{i}"
        task, world = build_task(task_id)
        inbox = world.inbox()[:5]
        if task.template != "delete_mail":
            continue
        slots = task.spec.slots
        right = next((m for m in inbox if m.subject == slots["subject"]), None)
        wrong = next((m for m in inbox if m.subject != slots["subject"]), None)
        if right and wrong:
            return task_id, f"{right.sender}: {right.subject}", f"{wrong.sender}: {wrong.subject}"
    raise AssertionError("no task")


def script(task_id: str, right: str, wrong: str) -> list[str]:
    mail, wrong_id = ids_for(task_id, ["Mail", wrong])
    _, right_id, delete_id = ids_for(task_id, ["Mail", right, "Delete"])
    return [f"Thought: open the mail app\nAction: click({mail})",
            f"Thought: this must be the email\nAction: click({wrong_id})",
            f"Thought: delete it\nAction: click({delete_id})",
            "Thought: wrong email, go back\nAction: back()",
            f"Thought: open the right one\nAction: click({right_id})",
            f"Thought: delete it\nAction: click({delete_id})"]


def test_critic_blocks_the_wrong_irreversible_action_that_react_executes(delete_task):
    task_id, right, wrong = delete_task
    replies = script(task_id, right, wrong)

    plain = run("react", task_id, replies)
    assert not plain.success and plain.end_reason == "terminated"
    assert [s.action for s in plain.steps] == [r.split("Action: ")[1] for r in replies[:3]]
    assert "the task has failed" in plain.steps[-1].observation

    guided = run("critic", task_id, replies, critic="gui")
    assert guided.success and guided.end_reason == "won"
    blocked = guided.steps[2]
    (rejected,) = blocked.info["rejected"]
    assert rejected["action"] == replies[2].split("Action: ")[1]
    assert rejected["critique"]["verdict"] == "bad" and "cannot be undone" in rejected["critique"]["explanation"]
    assert blocked.action == "back()"  # the revision ran instead
    feedback = [m for m in guided.messages if m.kind == "feedback"]
    assert len(feedback) == 1 and "goal asks for" in feedback[0].content


def test_an_irreversible_veto_is_final_even_after_the_last_revision(delete_task):
    task_id, right, wrong = delete_task
    replies = script(task_id, right, wrong)
    delete = replies[2]
    traj = run("critic", task_id, replies[:3] + [delete, delete, "Action: back()"], critic="gui", max_revisions=2)
    step = traj.steps[2]
    assert step.info["vetoed"] == delete.split("Action: ")[1] and not step.valid and step.action is None
    assert "Blocked by the critic" in step.observation
    assert not any("the task has failed" in s.observation for s in traj.steps)  # the delete never ran
    assert traj.end_reason == "script exhausted"


def test_llm_critic_is_asked_on_irreversible_actions_only(delete_task, tmp_path):
    task_id, right, wrong = delete_task
    replies = script(task_id, right, wrong)
    right_path = [replies[0], replies[4].replace("open the right one", "open it"), replies[5]]
    verdicts = tmp_path / "critic.json"
    verdicts.write_text(json.dumps(["Verdict: bad\nExplanation: are you sure?\nSuggestion: back()",
                                    "Verdict: good\nExplanation: the goal asks for it.\nSuggestion: none"]))
    traj = run("critic", task_id, right_path + [right_path[2]], critic="gui-llm",
               critic_model=f"scripted:{verdicts}")
    assert traj.success
    critiques = [s.critique for s in traj.steps]
    assert [c.critic for c in critiques] == ["gui-llm"] * 3
    assert traj.steps[2].info["rejected"][0]["critique"]["explanation"] == "are you sure?"
    assert critiques[2].verdict == "good" and critiques[0].explanation == ""  # rules only before


def proposal(action: str, info: dict, goal: str = "", history=(), first: str = "") -> Proposal:
    return Proposal(action=action, goal=goal or info.get("goal", ""), info=info, history=tuple(history),
                    first_observation=first)


def test_rule_critic_checks_targets_and_answers():
    env = GuiEnv()
    obs, info = env.reset(options={"task": find_task("toggle_on")})
    critic = GuiCritic()
    assert critic(proposal("click(99)", info)).verdict == "bad"
    assert "not a textbox" in critic(proposal('type(1, "x")', info)).explanation
    assert critic(proposal("click(1)", info)).verdict == "good"
    final = critic(proposal('answer("done")', info, first=obs))
    assert final.verdict == "bad" and "not to answer" in final.explanation
    obs, info = env.reset(options={"task": find_task("ask_price")})
    assert critic(proposal('answer("$1.00")', info, first=obs)).verdict == "bad"  # not on the screen


def test_rule_critic_lets_the_right_irreversible_action_through_and_only_vetoes_irreversible(delete_task):
    task_id, right, wrong = delete_task
    mail, right_id, delete_id = ids_for(task_id, ["Mail", right, "Delete"])
    env = GuiEnv()
    env.reset(options={"task": task_id})
    env.step(f"click({mail})")
    info = env.step(f"click({right_id})")[4]
    critic = make_critic("gui")
    good = critic(proposal(f"click({delete_id})", info))
    assert good.verdict == "good" and not critic.veto(proposal(f"click({delete_id})", info), good)
    bad_click = critic(proposal("click(99)", info))
    assert bad_click.verdict == "bad" and not critic.veto(proposal("click(99)", info), bad_click)


def step(action: str, observation: str, valid: bool = True) -> Step:
    return Step(t=0, action=action, observation=observation, valid=valid)


def test_hierarchical_levels_action_and_trajectory():
    screen_a, screen_b = "Screen: Home\n[1] button \"Mail\"", "Screen: Mail > Inbox\n[1] button \"Compose\""
    assert action_outcome(screen_a, "You clicked.\n\n" + screen_a) == "no change"
    assert action_outcome(screen_a, screen_b) == "ok" and action_outcome(screen_a, screen_b, False) == "invalid"
    history = [step("click(1)", "Nothing.\n\n" + screen_a)]
    info = {"elements": [{"id": 1, "role": "button", "label": "Mail", "clickable": True}],
            "goal_slots": {"allows": ()}}
    again = proposal("click(1)", info, history=history, first=screen_a)
    assert outcome_critic(again).verdict == "bad" and GuiCritic()(again).verdict == "bad"
    assert outcome_critic(proposal("click(2)", info, history=history, first=screen_a)).verdict == "good"
    changing = [step("click(1)", f"{screen_a}\n[2] text \"{n}\"") for n in range(2)]
    assert GuiCritic()(proposal("click(1)", info, history=changing, first=screen_b)).verdict == "good"  # "+" presses
    cycle = [step("click(1)", screen_b), step("back()", screen_a), step("click(1)", screen_b)]
    looped = GuiCritic()(proposal("back()", info, history=cycle, first=screen_a))
    assert looped.verdict == "bad" and "cycle" in looped.explanation
    executed = Proposal(action="click(1)", history=(step("back()", screen_a),), outcome=step("click(1)", screen_a))
    assert outcome_critic(executed).verdict == "bad"


def test_expert_and_critic_agents_run_through_the_catalogue():
    env = make_env(ENV_ID)
    (traj,) = asyncio.run(make_agent("expert").run_task(env, "unseen-7", key="u7"))
    assert traj.success and traj.steps[0].thought
