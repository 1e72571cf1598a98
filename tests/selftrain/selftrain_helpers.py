"""Helpers of the self-training tests: a policy that follows the expert but slips, a search runner."""

from __future__ import annotations

from mulligan.llm.base import Completion, Usage

TASK = "train-51"
"""A five-step household task: find a pillow, examine it under the desklamp."""
SLIP = "Thought: maybe the bed opens\nAction: open bed 1"
"""A reply whose action has no effect in :data:`TASK` (the bed cannot be opened)."""


def expert_replies(task_id: str) -> list[str]:
    """The expert's solution of a household task as ReAct replies."""
    from mulligan.envs.household import solve

    return [f"Thought: {s.subgoal}\nAction: {s.action}" for s in solve(task_id).steps]


def first_observation(messages) -> str:
    return next(m.content for m in messages if m.role == "user" and m.kind == "observation")


class SlipPolicy:
    """A real backend that plays the expert's solution and slips on every ``period``-th reply.

    Where a transcript stands in the solution is the number of observations that were not "Nothing
    happens.", so after a slip (which changes nothing) it carries on. Tasks it has no solution for
    get ``look``.
    """

    name = "slip-policy"
    supports_tools = False
    max_batch_size = 64

    def __init__(self, tasks=(TASK,), period: int = 3):
        from mulligan.envs import make_env

        self.demos = {}
        env = make_env("mulligan/Household-v0")
        for task in tasks:
            observation, _ = env.reset(options={"task": task})
            self.demos[observation] = expert_replies(task)
        self.period = period
        self.replies = 0

    def reply(self, messages) -> str:
        demo = self.demos.get(first_observation(messages))
        if demo is None:
            return "Thought: I do not know this room\nAction: look"
        self.replies += 1
        if self.replies % self.period == 0:
            return SLIP
        done = sum(1 for m in messages if m.kind == "observation" and m.content != "Nothing happens.") - 1
        return demo[min(done, len(demo) - 1)]

    async def generate(self, requests):
        return [Completion(text=self.reply(r.messages), usage=Usage(prompt_tokens=1, completion_tokens=1))
                for r in requests]

    def close(self):
        pass


def search(llm, task=TASK, **options):
    """Run the search agent on one household task; returns its trajectories."""
    import asyncio

    from mulligan.agents import make_agent
    from mulligan.envs import make_env

    env = make_env("mulligan/Household-v0")
    try:
        return asyncio.run(make_agent("search", llm, **options).run_task(env, task, key=task))
    finally:
        env.close()
