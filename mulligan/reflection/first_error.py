"""Where a failed trajectory first went wrong: by the env, the model as verifier (Agent-R) or the teacher.

The env-grounded locator takes the first action the env answered as having no effect (what a
tiny policy can rely on: no model, no hidden state). The verifier labels each step
Good/Bad/Uncertain (prompt ``prompts/verify.txt``) and the first Bad step is the error. The
teacher replays the trajectory in a fresh env and returns the first step whose action had no
effect or did not shorten the expert's remaining plan. :func:`mark_first_error` records the
result as the step's critique, which is how exporters find it.

Only executed actions are candidates: a reply that could not be parsed changed nothing, and every
export format already keeps it out of the loss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from mulligan.errors import EnvError
from mulligan.records import Critique, Trajectory
from mulligan.reflection.base import Proposal, first_observation
from mulligan.reflection.feedback import env_feedback_critic
from mulligan.reflection.prompts import ask, render_prompt, render_steps
from mulligan.reflection.teacher import TeacherCritic

_LABEL = re.compile(r"^\W*step\s*(\d+)\s*[:.)-]\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_VERDICT_FIRST = re.compile(r"^\W*(good|bad|uncertain)\b\W*(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class FirstError:
    """The first bad step of a trajectory.

    Attributes:
        step: Index into ``Trajectory.steps``.
        critique: Why it is bad (``critique.critic`` says who located it).
    """

    step: int
    critique: Critique


def first_error_by_env(traj: Trajectory) -> FirstError | None:
    """The first executed step the env answered as having no effect (``Step.valid`` False).

    Judged by :func:`~mulligan.reflection.feedback.env_feedback_critic` from the recorded outcome
    alone, so it needs neither a model nor the env's state.

    Returns:
        The first error (its critique's critic is ``"env"``), or None when every action had an effect.
    """
    for i, step in enumerate(traj.steps):
        if step.action is None:
            continue
        critique = env_feedback_critic(Proposal.from_step(traj, i))
        if critique.verdict == "bad":
            return FirstError(i, critique.model_copy(update={"step": i}))
    return None


def first_error_by_teacher(traj: Trajectory, env: Any, teacher: TeacherCritic | None = None) -> FirstError | None:
    """Replay ``traj`` in ``env`` (reset to its task) and return the first step the teacher judges bad.

    Args:
        traj: A trajectory of a deterministic env with an expert (the household).
        env: An env of the same kind; it is reset and stepped.
        teacher: The judge (default: a :class:`TeacherCritic`).

    Returns:
        The first error, or None when every step helped.

    Raises:
        EnvError: The replay does not reproduce the recorded observations.
    """
    teacher = teacher or TeacherCritic()
    env.reset(options={"task": traj.task_id})
    for i, step in enumerate(traj.steps):
        if step.action is None:
            continue
        critique = teacher.judge_action(env, step.action, traj.goal)
        if critique.verdict == "bad":
            return FirstError(i, critique.model_copy(update={"step": i}))
        observation, *_ = env.step(step.action)
        if str(observation) != step.observation:
            raise EnvError(f"replaying {traj.id} diverged at step {i}: the env is not deterministic for the teacher")
    return None


def parse_step_labels(text: str) -> dict[int, tuple[str, str]]:
    """``Step i: Good|Bad|Uncertain - reason`` lines -> {i (1-based): (verdict, reason)}."""
    out: dict[int, tuple[str, str]] = {}
    for number, rest in _LABEL.findall(text):
        m = _VERDICT_FIRST.match(rest)
        out.setdefault(int(number), (m.group(1).lower(), m.group(2).strip()) if m else ("uncertain", rest.strip()))
    return out


async def first_error_by_verifier(traj: Trajectory, llm: Any, *, max_tokens: int = 512) -> FirstError | None:
    """Ask a model to label the steps of ``traj`` (Agent-R's verifier) and return the first Bad one.

    Returns:
        The first executed step labelled Bad, or None when there is none (or the model failed).
    """
    prompt = render_prompt(
        "verify", goal=traj.goal, transcript=render_steps(first_observation(traj), traj.steps, numbered=True)
    )
    reply = await ask(llm, prompt, tag=f"{traj.id}:verify", max_tokens=max_tokens)
    labels = {} if reply.error else parse_step_labels(reply.text)
    for i, step in enumerate(traj.steps):
        verdict, reason = labels.get(i + 1, ("uncertain", ""))
        if verdict == "bad" and step.action is not None:
            return FirstError(i, Critique(verdict="bad", critic="verifier", step=i, explanation=reason))
    return None


def mark_first_error(traj: Trajectory, error: FirstError | None) -> Trajectory:
    """Record ``error`` as the critique of its step (in place); returns ``traj``."""
    if error is not None:
        traj.steps[error.step].critique = error.critique
    return traj


def mark_first_errors_by_teacher(
    trajs: list[Trajectory], make_env: Callable[[str], Any], teacher: TeacherCritic | None = None
) -> int:
    """Mark, in place, the teacher-located first error of each trajectory that has no mark yet.

    The marks are the teacher's critiques, so exporters treat every marked trajectory as teacher
    data (never plain policy data).

    Args:
        trajs: Trajectories of envs with an expert.
        make_env: Builds an env from a trajectory's ``env`` id (``mulligan.envs.make_env``).
        teacher: The judge (default: a :class:`TeacherCritic`).

    Returns:
        How many trajectories got a mark.
    """
    teacher = teacher or TeacherCritic()
    envs: dict[str, Any] = {}
    marked = 0
    for traj in trajs:
        if traj.source == "teacher" or any(s.critique is not None and s.critique.verdict == "bad" for s in traj.steps):
            continue
        env = envs.setdefault(traj.env, make_env(traj.env))
        error = first_error_by_teacher(traj, env, teacher)
        mark_first_error(traj, error)
        marked += error is not None
    for env in envs.values():
        env.close()
    return marked
