"""Export formats on real household runs: rows, train flags, teacher data kept apart, exact masks."""

from __future__ import annotations

import asyncio
import json
from itertools import groupby

import pytest

from mulligan.envs import make_env
from mulligan.llm import ScriptedLLM
from mulligan.records import append_jsonl
from mulligan.reflection import first_error_by_verifier, mark_first_error, mark_first_errors_by_teacher
from mulligan.training.export import FORMATS, build_rows, export, load_trajectories
from mulligan.training.rows import teacher_touched
from mulligan.training.token_stats import conversations_of

TASK = "unseen-3"
FAIL = ["Action: go to drawer 1", "Action: open bed 1"]
BAD = ["Thought: hmm\nAction: open bed 1"] * 40


def verifier_mark(traj, labels):
    """Mark the first error the way a model-as-verifier run would (scripted labels)."""
    return mark_first_error(traj, asyncio.run(first_error_by_verifier(traj, ScriptedLLM([labels]))))


@pytest.fixture(scope="module")
def runs(run_household, expert_replies, memory_aware_llm):
    demo = expert_replies(TASK)
    r = {
        "expert": run_household("expert", TASK)[0],
        "policy": run_household("react", TASK, demo)[0],
        "garbled": run_household("react", TASK, ["", *demo])[0],
        "critic": run_household("critic", TASK, ["Action: open bed 1", *demo], critic="env")[0],
        "recovered": verifier_mark(run_household("react", TASK, ["Action: inventory", *demo])[0],
                                   "Step 1: Bad - idle"),
        "pair_fail": verifier_mark(run_household("react", TASK, ["Action: open bed 1", "Action: look"])[0],
                                   "Step 1: Bad - no effect"),
        "teacher": run_household("teacher", TASK, BAD)[0],
        "teacher_mixed": run_household(
            "teacher", TASK, demo[:4] + ["Thought: take it\nAction: take pencil 1 from drawer 1"] + demo[4:])[0],
        "teacher_marked": run_household("react", TASK, ["Action: look", *demo])[0],
    }
    r["trial0"], r["retry"] = run_household("reflexion", TASK, llm=memory_aware_llm(FAIL, demo), trials=3)
    mark_first_errors_by_teacher([r["teacher_marked"]], make_env)
    r["relabeled"] = r["teacher"].model_copy(update={"source": "policy", "id": "traj-relabeled"}, deep=True)
    r["splice"] = r["recovered"].model_copy(update={"source": "splice", "id": "traj-precomputed"}, deep=True)
    return r


@pytest.fixture(scope="module")
def trajs(runs):
    return list(runs.values())


def flags(row):
    return [m["train"] for m in row["messages"]]


def by_traj(rows):
    return {r["traj_id"]: r for r in rows}


def test_sft_holds_plain_successes_with_their_own_flags(runs, trajs):
    rows = by_traj(build_rows(trajs, "sft"))
    plain = {runs[k].id for k in ("expert", "policy", "garbled", "critic", "recovered")}
    assert set(rows) == plain
    for tid in plain:
        traj = next(t for t in trajs if t.id == tid)
        assert flags(rows[tid]) == [m.role == "assistant" and m.train is not False for m in traj.messages]
        assert rows[tid]["messages"][1]["content"] == traj.messages[1].content
    assert flags(rows[runs["garbled"].id])[2] is False  # the unparseable reply stays out of the loss
    assert {r["source"] for r in rows.values()} == {"expert", "policy"}
    assert all(set(m) == {"role", "content", "train"} for r in rows.values() for m in r["messages"])


def test_rerest_adds_retries_that_won_after_reflection_without_the_memory(runs, trajs):
    rows = by_traj(build_rows(trajs, "rerest"))
    retry = rows[runs["retry"].id]
    assert retry["source"] == "reflexion-retry"
    assert any(m.kind == "memory" for m in runs["retry"].messages)
    kept = [m.content for m in runs["retry"].messages if m.kind != "memory"]
    assert [m["content"] for m in retry["messages"]] == kept
    assert runs["trial0"].id not in rows
    assert set(rows) - {runs["retry"].id} == set(by_traj(build_rows(trajs, "sft")))


def test_teacher_touched_trajectories_are_never_plain_policy_data(runs, trajs):
    touched = {t.id for t in trajs if teacher_touched(t)}
    assert touched == {runs[k].id for k in ("teacher", "teacher_mixed", "teacher_marked", "relabeled")}
    for fmt in ("sft", "rerest"):
        assert not touched & {r["traj_id"] for r in build_rows(trajs, fmt)}
    for fmt in FORMATS:
        for row in build_rows(trajs, fmt):
            used = {row.get("traj_id"), row.get("prefix_id"), row.get("rejected_id")}
            if used & touched:
                assert row["source"] == "teacher", (fmt, row["source"])


def test_step_trains_reflection_and_correction_and_keeps_the_wrong_step_off(runs, trajs):
    rows = by_traj(build_rows(trajs, "step"))
    assert set(rows) == {runs["teacher"].id, runs["teacher_mixed"].id, runs["relabeled"].id}
    mixed = rows[runs["teacher_mixed"].id]
    assistants = [m for m in mixed["messages"] if m["role"] == "assistant"]
    wrong = next(i for i, m in enumerate(assistants) if "take pencil 1" in m["content"])
    assert [m["train"] for m in assistants[:wrong]] == [True] * wrong  # approved policy steps
    assert assistants[wrong]["train"] is False
    assert assistants[wrong + 1]["train"] and assistants[wrong + 1]["content"].startswith("Reflection:")
    assert mixed["source"] == "teacher" and mixed["corrections"] == 1
    only = by_traj(build_rows(trajs, "step", corrections_only=True))[runs["teacher_mixed"].id]
    trained = [m["content"] for m in only["messages"] if m["train"]]
    assert len(trained) == 1 and trained[0].startswith("Reflection:")


def test_agentr_splices_prefix_off_revision_and_continuation_on(runs, trajs):
    rows = by_traj(build_rows(trajs, "agentr"))
    # Precomputed splices pass through as recorded.
    recorded = by_traj(build_rows([runs["recovered"]], "sft"))[runs["recovered"].id]
    assert flags(rows["traj-precomputed"]) == flags(recorded)
    # A corrected trajectory: nothing before the first correction is trained.
    mixed = rows[runs["teacher_mixed"].id]["messages"]
    first = next(i for i, m in enumerate(mixed) if m["content"].startswith("Reflection:"))
    assert not any(m["train"] for m in mixed[:first]) and mixed[first]["train"]
    # A recovered success: prefix through the error off, then the revision turn opens the continuation.
    rec = rows[runs["recovered"].id]
    assert rec["source"] == "splice"
    a = [m for m in rec["messages"] if m["role"] == "assistant"]
    assert a[0] == {"role": "assistant", "content": "Action: inventory", "train": False}
    assert a[1]["train"] and a[1]["content"] == (
        "Reflection: idle\nThought: Task: put a alarmclock in sidetable. Looking for alarmclock: try armchair 1.\n"
        "Action: go to armchair 1"
    )
    assert all(m["train"] for m in a[1:])
    # A failure and a success of the same task: the failure's no-effect error, then the success from the start.
    pair = next(r for r in rows.values() if r.get("prefix_id") == runs["pair_fail"].id)
    cont = next(t for t in trajs if t.id == pair["traj_id"])
    assert pair["source"] == "splice" and cont.success
    m = pair["messages"]
    assert [x["content"] for x in m[2:4]] == ["Action: open bed 1", "Nothing happens."] and not m[2]["train"]
    assert m[4]["content"] == f"Reflection: no effect\n{cont.messages[2].content}" and m[4]["train"]
    assert [x["content"] for x in m[5:]] == [x.content for x in cont.messages[3:]]


def test_dpo_pairs_at_the_same_state(runs, trajs):
    rows = build_rows(trajs, "dpo")
    assert all(set(r) >= {"prompt", "chosen", "rejected", "source", "task_id", "traj_id"} for r in rows)
    div = next(r for r in rows if r["pair"] == "divergence" and r["rejected_id"] == runs["trial0"].id)
    assert [m["role"] for m in div["prompt"]] == ["system", "user"] and "memory" not in div["prompt"][1]["content"]
    assert div["rejected"][0]["content"] == "Action: go to drawer 1" and div["chosen"] != div["rejected"]
    rev = next(r for r in rows if r["pair"] == "revision" and r["traj_id"] == runs["critic"].id)
    assert rev["rejected"][0]["content"] == "Action: open bed 1"
    assert rev["chosen"][0]["content"] == runs["critic"].messages[4].content and rev["source"] == "policy"
    fix = next(r for r in rows if r["pair"] == "correction" and r["traj_id"] == runs["teacher_mixed"].id)
    assert fix["source"] == "teacher" and fix["rejected"][0]["content"].endswith("take pencil 1 from drawer 1")
    assert fix["chosen"][0]["content"] == "Thought: find alarmclock\nAction: go to drawer 2"


def test_export_writes_jsonl_and_counts_and_the_cli_prints_them(runs, tmp_path, tiny_tokenizer):
    from typer.testing import CliRunner

    from mulligan.cli import app
    from mulligan.training.masking import tokenize_conversation

    run_dir = tmp_path / "run"
    append_jsonl(run_dir / "trajectories.jsonl", list(runs.values()))
    stats = export([run_dir], "sft", tmp_path / "words")
    assert stats.unit == "whitespace words" and stats.total.rows == 5
    written = [json.loads(line) for line in (tmp_path / "words" / "sft.jsonl").read_text().splitlines()]
    assert [r["traj_id"] for r in written] == [r["traj_id"] for r in build_rows(load_trajectories([run_dir]), "sft")]
    tok_dir = tmp_path / "tok"
    tiny_tokenizer.save_pretrained(tok_dir)
    result = CliRunner().invoke(app, ["export", str(run_dir), "--format", "dpo", "--out", str(tmp_path / "d"),
                                      "--tokenizer", str(tok_dir)])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "d" / "dpo.stats.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "d" / "dpo.jsonl").read_text().splitlines()]
    masks = [tokenize_conversation(c, tiny_tokenizer).mask for r in rows for c in conversations_of(r)]
    assert saved["total"]["trainable"] == sum(map(sum, masks)) and saved["total"]["rows"] == len(rows)
    assert "teacher" in result.output and "trainable" in result.output
    bad = CliRunner().invoke(app, ["export", str(run_dir), "--format", "stf", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "Did you mean 'sft'" in bad.output


def test_trainer_labels_equal_the_train_flags_for_every_format(trajs, any_tokenizer):
    """What TRL trains on is, token by token, the content (and end token) of the flagged messages."""
    from mulligan.training.sft import labels_seen_by_trainer

    convs, names = [], []
    for fmt in FORMATS:
        for row in build_rows(trajs, fmt)[:3]:
            for conv in conversations_of(row):
                convs.append(conv)
                names.append(fmt)
    assert set(names) == set(FORMATS)
    labels = labels_seen_by_trainer(convs, any_tokenizer)
    eos = any_tokenizer.eos_token
    for fmt, conv, lab in zip(names, convs, labels):
        # Labels are the token ids where the loss applies and -100 elsewhere: decode each trained run.
        runs = [any_tokenizer.decode(list(run)) for trained, run in groupby(lab, key=lambda t: t != -100) if trained]
        expected = [m["content"].strip() + eos for m in conv if m["role"] == "assistant" and m["train"]]
        assert runs == expected, fmt


def test_export_without_a_tokenizer_counts_with_the_default_policys(runs, tmp_path):
    from typer.testing import CliRunner

    from mulligan.cli import app

    run_dir = tmp_path / "run"
    append_jsonl(run_dir / "trajectories.jsonl", list(runs.values()))
    result = CliRunner().invoke(app, ["export", str(run_dir), "--format", "sft", "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "d" / "sft.stats.json").read_text())["unit"].startswith("tokens (")
