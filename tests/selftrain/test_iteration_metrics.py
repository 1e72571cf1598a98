"""Per-iteration metrics: pass@k, diversity, recovery, CL/CS; Reflexion's confirming trial; the report."""

from __future__ import annotations

import pytest
from selftrain_helpers import SLIP, TASK, expert_replies

from mulligan.records import Critique, Step, Trajectory
from mulligan.training.iteration_metrics import (
    made_error,
    pass_at_k,
    recovery,
    sampling_metrics,
    trial_transitions,
)
from mulligan.training.selftrain_report import metrics_table, write_metrics


def traj(task="t", success=False, actions=("look",), valid=True, **fields):
    fields.setdefault("steps", [Step(t=i, action=a, valid=valid) for i, a in enumerate(actions)])
    return Trajectory(env="e", task_id=task, success=success, **fields)


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k([True, False, False, False], 1) == pytest.approx(0.25)
    assert pass_at_k([True, False, False, False], 2) == pytest.approx(0.5)
    assert pass_at_k([True, False, False, False], 4) == 1.0
    assert pass_at_k([False, False], 2) == 0.0
    with pytest.raises(ValueError):
        pass_at_k([True], 2)


def test_sampling_metrics_average_over_tasks_with_k_samples():
    samples = [
        traj("a", True, ["go to desk 1", "look"]), traj("a", False, ["Go to desk 1 ", "open bed 1"]),
        traj("b", False, ["look", "look"]), traj("b", False, ["look", "look"]),
        traj("c", True, ["look"]),  # one sample only: left out
    ]
    m = sampling_metrics(samples, 2)
    assert m["tasks"] == 2 and m["pass@1"] == pytest.approx(0.25) and m["pass@2"] == pytest.approx(0.5)
    assert m["diversity"] == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert sampling_metrics([], 2)["pass@2"] is None


def test_recovery_counts_wins_among_episodes_with_an_error():
    bad = Critique(verdict="bad", critic="teacher")
    trajs = [
        traj(success=True, valid=False), traj(success=False, valid=False), traj(success=True),
        traj(success=True, steps=[Step(t=0, action="x", critique=bad)]),
        traj(success=True, recovered=True),
    ]
    assert [made_error(t) for t in trajs] == [True, True, False, True, True]
    assert recovery(trajs) == {"errors": 4, "recovered": 3, "rate": 0.75}
    assert recovery([traj(success=True)])["rate"] is None


def test_trial_transitions_give_cl_and_cs():
    a0 = traj("a", True)
    a1 = traj("a", True, trial=1, parent_id=a0.id)
    b0 = traj("b", False)
    b1 = traj("b", True, trial=1, parent_id=b0.id)
    c0 = traj("c", False)
    c1 = traj("c", False, trial=1, parent_id=c0.id)
    m = trial_transitions([a0, a1, b0, b1, c0, c1, traj("d", True)])
    assert (m["cl"], m["cs"], m["correct"], m["wrong"]) == (1.0, 0.5, 1, 2)
    assert trial_transitions([traj()])["cl"] is None


def test_reflexion_confirms_a_success_with_one_more_trial(run_household, memory_aware_llm):
    demo = expert_replies(TASK)
    plain = run_household("reflexion", TASK, demo, trials=3)
    assert [t.success for t in plain] == [True]
    confirmed = run_household("reflexion", TASK, demo, trials=3, confirm_success=True)
    assert [t.success for t in confirmed] == [True, True]
    assert confirmed[1].parent_id == confirmed[0].id and confirmed[1].reflections == []
    # A failure is reflected on and retried; the retry's success is confirmed, then the task stops.
    llm = memory_aware_llm([SLIP] * 6, demo)
    slipping = run_household("reflexion", TASK, llm=llm, trials=4, confirm_success=True, max_steps=6)
    assert [t.success for t in slipping] == [False, True, True]
    assert len(slipping[2].reflections) == 1
    assert trial_transitions(slipping)["cs"] == 1.0 and trial_transitions(slipping)["cl"] == 1.0


def test_report_table_and_plot(tmp_path):
    records = [
        {"method": "star", "iteration": 0, "success": 0.1, "recovery": None, "wall_s": 3.0},
        {"method": "star", "iteration": 1, "success": 0.2, "recovery": 0.5, "pass@k": 0.4, "diversity": 0.3,
         "cl": None, "cs": 0.25, "rows": 12, "wall_s": 30.0},
    ]
    table = metrics_table(records)
    assert table.row_count == 2
    note = write_metrics(tmp_path, records)
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 2
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "pip install" in note
    else:
        assert note is None and (tmp_path / "metrics.png").stat().st_size > 0


def test_each_success_rate_is_printed_with_its_95_percent_interval():
    from rich.console import Console

    from mulligan.training.selftrain_report import TABLE_WIDTH, interval

    low, high = interval(0.5, 200)
    assert low == pytest.approx(0.431, abs=1e-3) and high == pytest.approx(0.569, abs=1e-3)  # about +-7 points
    assert interval(0.0, 20)[0] == 0.0 and interval(1.0, 10)[1] == 1.0 and interval(0.3, 0) == (0.0, 1.0)
    records = [{"method": "bootstrap", "iteration": 0, "success": 0.5, "eval_tasks": 200},
               {"method": "star", "iteration": 1, "success": 0.1}]
    console = Console(width=TABLE_WIDTH, record=True)
    console.print(metrics_table(records))
    lines = {line.split()[0]: line for line in console.export_text().splitlines() if line.strip()}
    assert "95% interval" in lines["method"] and "43%-57%" in lines["bootstrap"] and "%-" not in lines["star"]


def test_a_method_keeps_its_colour_in_every_panel():
    """The bootstrap appears only in some panels; the methods' colours must not shift in the others."""
    plt = pytest.importorskip("matplotlib.pyplot")
    from mulligan.training.selftrain_report import metrics_figure

    records = [{"method": "bootstrap", "iteration": 0, "success": 0.07, "recovery": 0.0}]
    records += [{"method": m, "iteration": i, "success": 0.05, "recovery": 0.1, "pass@k": 0.1, "diversity": 0.3}
                for m in ("star", "rerest") for i in (1, 2)]
    fig = metrics_figure(records, plt)
    colours: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            colours.setdefault(line.get_label(), set()).add(line.get_color())
    plt.close(fig)
    assert set(colours) == {"bootstrap", "star", "rerest"}
    assert all(len(c) == 1 for c in colours.values())
    assert len({next(iter(c)) for c in colours.values()}) == 3


def test_policies_are_compared_with_the_bootstrap_task_by_task():
    from rich.console import Console

    from mulligan.training.selftrain_report import paired_change, paired_table, sign_test

    assert sign_test(0, 0) == 1.0 and sign_test(3, 3) == 1.0
    assert sign_test(0, 5) == pytest.approx(2 / 32)  # all five discordant tasks one way
    assert sign_test(36, 10) == pytest.approx(1.564e-4, rel=1e-3) == sign_test(10, 36)
    before = {"a": True, "b": True, "c": False, "d": False, "e": True}
    after = {"a": True, "b": False, "c": True, "d": True, "x": True}  # "e" not evaluated, "x" not before
    assert paired_change(before, after) == (4, 2, 1)
    console = Console(width=100, record=True)
    console.print(paired_table(before, [("grpo", 1, after)]))
    row = next(line.split() for line in console.export_text().splitlines() if line.strip().startswith("grpo"))
    assert row == ["grpo", "1", "4", "2", "1", "+1", "1"]
