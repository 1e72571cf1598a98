"""GRPO on the real tiny default policy: a few steps, and the tokens trained are exactly the ones generated."""

from __future__ import annotations

import pytest

from mulligan.training.grpo import EnvGRPOTrainer, grpo_config, make_trainer


class ObservedTrainer(EnvGRPOTrainer):
    """The real trainer; it also keeps every generation batch as the loss sees it, with its episodes, and the
    log-probabilities its own forward pass gives the completions before the update."""

    def _generate_and_score_completions(self, inputs):
        import torch

        out = super()._generate_and_score_completions(inputs)
        ids = torch.cat([out["prompt_ids"], out["completion_ids"]], dim=1)
        mask = torch.cat([out["prompt_mask"], out["completion_mask"]], dim=1)
        with torch.no_grad():
            logps, _, _ = self._get_per_token_logps_and_entropies(self.model, ids, mask, ids.shape[1] - out[
                "prompt_ids"].shape[1], batch_size=len(ids))
        self.seen = getattr(self, "seen", []) + [(out, list(self.rollout.last), logps)]
        return out


def unpadded(row, mask):
    return [int(x) for x, m in zip(row.tolist(), mask.tolist()) if m]


@pytest.fixture(scope="module")
def trained(default_policy_path, tmp_path_factory):
    """Two GRPO steps (2 tasks x 2 episodes each) with the admissible constraint and step-level credit.

    In float32: under bfloat16 autocast (the default where the CPU runs it natively) the trainer's own
    logprobs drift from the rollout's by rounding, which is not what the token checks are about. A
    competent policy wins no task and makes no invalid step in 4 steps, so the penalty on actions the
    constraint replaced is what sets the episodes of a group apart (else every advantage is 0)."""
    from mulligan.training.finetune import load_tokenizer
    from mulligan.training.sft import _load_model

    out = tmp_path_factory.mktemp("grpo")
    config = grpo_config(
        out, lr=1e-4, batch_size=2, progress=False, gradient_accumulation_steps=2, tasks=4, num_generations=2,
        max_env_steps=4, max_tokens=48, temperature=1.0, agent_options={"admissible": "nearest"},
        rewards={"won": 1.0, "invalid": -0.1, "replaced": -0.1, "critic:loop": -0.1}, step_credit=True, bf16=False,
    )
    tokenizer = load_tokenizer(default_policy_path)
    model = _load_model(default_policy_path)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer = make_trainer(config, model, tokenizer, cls=ObservedTrainer)
    trainer.train()
    return trainer, tokenizer, before


def test_a_few_grpo_steps_update_the_policy(trained):
    trainer, _, before = trained
    assert trainer.state.global_step == 2
    assert [len(batch) for _, batch, _ in trainer.seen] == [4, 4]
    after = dict(trainer.model.named_parameters())
    assert any(not after[k].detach().equal(v) for k, v in before.items())
    assert any("reward" in entry for entry in trainer.state.log_history)


def as_generated(step, message, tokenizer):
    """Whether the transcript holds the step's reply exactly as generated (not replaced by the constraint, not
    changed by decoding: a special token or a broken UTF-8 byte the model emitted does not survive as text)."""
    ids = [t for t in step.token_ids if t != tokenizer.eos_token_id]
    return "proposed" not in step.info and tokenizer.decode(ids, skip_special_tokens=False) == message.content


def own_steps(traj, tokenizer):
    """The steps whose replies the policy's later turns saw as generated; the last step needs no later turn."""
    replies = [m for m in traj.messages if m.role == "assistant"]
    last = len(traj.steps) - 1
    return [s for t, (s, m) in enumerate(zip(traj.steps, replies))
            if as_generated(s, m, tokenizer) or (t == last and "proposed" not in s.info)]


def test_the_trained_tokens_are_exactly_the_generated_ones(trained):
    trainer, tokenizer, _ = trained
    replaced = trained_steps = 0
    for out, episodes, logps in trainer.seen:
        loss_mask = out["completion_mask"] * out["tool_mask"]
        for i, (traj, seq) in enumerate(episodes):
            mask = loss_mask[i].tolist()
            ids = out["completion_ids"][i].tolist()
            trained_ids = [t for t, m in zip(ids, mask) if m]
            own = own_steps(traj, tokenizer)
            replaced += sum("proposed" in s.info for s in traj.steps)
            trained_steps += len(own)
            assert trained_ids == [t for s in own for t in s.token_ids]
            sampled = [lp for lp, m in zip(out["sampling_per_token_logps"][i].tolist(), mask) if m]
            assert sampled == pytest.approx([lp for s in own for lp in s.logprobs], abs=1e-6)
            # The backend's log-probabilities are the trainer's own for the same tokens (same weights, same T).
            recomputed = [lp for lp, m in zip(logps[i].tolist(), mask) if m]
            assert recomputed == pytest.approx(sampled, abs=2e-3)
            # Everything the trainer runs before the last trained reply is the transcript the policy saw, token
            # for token (that reply's own ids are checked above).
            head = unpadded(out["prompt_ids"][i], out["prompt_mask"][i])
            if seq.trained_turns:
                last_step = max(seq.step_of_token)
                head += seq.completion_ids[: seq.step_of_token.index(last_step)]
            shown = tokenizer.apply_chat_template([m.to_openai() for m in traj.messages], tokenize=False)
            assert shown.startswith(tokenizer.decode(head, skip_special_tokens=False))
    assert trained_steps > 0
    assert replaced > 0, "no turn was replaced by the constraint; the masking of replaced turns went untested"


def test_replaced_turns_are_context_without_loss(trained):
    trainer, tokenizer, _ = trained
    for out, episodes, _ in trainer.seen:
        loss_mask = out["completion_mask"] * out["tool_mask"]
        for i, (traj, seq) in enumerate(episodes):
            context = tokenizer.decode([t for t, m in zip(out["completion_ids"][i].tolist(), loss_mask[i].tolist())
                                        if not m], skip_special_tokens=True)
            last_trained = max(seq.step_of_token)  # the sequence ends with that step's reply
            for t, (step, message) in enumerate(zip(traj.steps, [m for m in traj.messages if m.role == "assistant"])):
                if "proposed" in step.info and t < last_trained:
                    assert message.content in context  # the rewritten reply is there, untrained


def test_step_credit_gives_each_step_its_own_advantage(trained):
    trainer, _, _ = trained
    for out, episodes, _ in trainer.seen:
        advantages = out["advantages"]
        assert advantages.dim() == 2 and advantages.shape == out["completion_ids"].shape
        for i, (_, sequence) in enumerate(episodes):
            by_step = {}
            for k, step in enumerate(sequence.step_of_token):
                if step >= 0:
                    by_step.setdefault(step, set()).add(round(float(advantages[i, k]), 6))
            assert all(len(values) == 1 for values in by_step.values())
