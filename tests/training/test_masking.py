"""Masks are exact per token, for the tiny template and standard (Llama-3, Qwen2) templates."""

from __future__ import annotations

import pytest

from mulligan.training.masking import ChatTemplateError, tokenize_conversation


def _runs(ids, bits):
    """Contiguous runs of ids where bits are set."""
    runs, cur = [], []
    for i, b in zip(ids, bits):
        if b:
            cur.append(i)
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def _expected_runs(conv, tokenizer):
    trained = [m for m in conv if m.role == "assistant" and m.train is not False]
    return [m.content + tokenizer.eos_token for m in trained]


def test_mask_covers_exactly_trained_assistant_content_and_eos(make_conversations, any_tokenizer):
    conv = make_conversations(1)[0]
    tc = tokenize_conversation(conv, any_tokenizer)
    whole = any_tokenizer.apply_chat_template([m.to_openai() for m in conv], return_dict=True)["input_ids"]
    assert tc.input_ids == list(whole)
    assert len(tc.mask) == len(tc.input_ids)
    runs = [any_tokenizer.decode(r) for r in _runs(tc.input_ids, tc.mask)]
    assert runs == _expected_runs(conv, any_tokenizer)
    # Each trained run ends on the EOS token and the token after it (template glue) is not trained.
    for i, m in enumerate(conv):
        start, end = tc.spans[i]
        # Spans hold the message's text; for assistant turns the header is left before them.
        assert m.content in any_tokenizer.decode(tc.input_ids[start:end])
        if m.role == "assistant" and m.train is not False:
            trained = [k for k in range(start, end) if tc.mask[k]]
            assert trained[0] == start and any_tokenizer.decode(tc.input_ids[start:end]).startswith(m.content)
            assert tc.input_ids[trained[-1]] == any_tokenizer.eos_token_id


def test_dicts_default_train_flags(tiny_tokenizer):
    conv = [
        {"role": "user", "content": "hi", "train": True},  # ignored: not an assistant message
        {"role": "assistant", "content": "go to fridge 1"},  # train=None -> trained
        {"role": "user", "content": "ok"},
        {"role": "assistant", "content": "open fridge 1", "train": False},
    ]
    tc = tokenize_conversation(conv, tiny_tokenizer)
    assert [tiny_tokenizer.decode(r) for r in _runs(tc.input_ids, tc.mask)] == ["go to fridge 1<|end|>"]


def test_prefix_unstable_template_is_rejected(make_conversations, tiny_tokenizer):
    from copy import deepcopy

    tok = deepcopy(tiny_tokenizer)
    # Marks the last message differently from the same message followed by others.
    tok.chat_template = (
        "{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] }}"
        "{% if loop.last %}{{ ' (latest)' }}{% endif %}{{ '<|end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    )
    with pytest.raises(ChatTemplateError, match="prefix-stable"):
        tokenize_conversation(make_conversations(1)[0], tok)


def test_trainer_labels_equal_train_flags(make_conversations, any_tokenizer):
    from mulligan.training.sft import labels_seen_by_trainer

    convs = make_conversations(3)
    labels = labels_seen_by_trainer(convs, any_tokenizer)
    for i, conv in enumerate(convs):
        tc = tokenize_conversation(conv, any_tokenizer)
        assert len(labels[i]) == len(tc.input_ids)
        for k, (tok, bit, lab) in enumerate(zip(tc.input_ids, tc.mask, labels[i])):
            assert lab == (tok if bit else -100), f"conversation {i}, token {k}"
        seen = [any_tokenizer.decode(r) for r in _runs(tc.input_ids, [lab != -100 for lab in labels[i]])]
        assert seen == _expected_runs(conv, any_tokenizer)


def test_truncation_keeps_the_start_and_drops_conversations_left_without_loss(make_conversations, tiny_tokenizer):
    from mulligan.training.sft import labels_seen_by_trainer

    conv = make_conversations(1)[0]
    tc = tokenize_conversation(conv, tiny_tokenizer)
    first_trained = tc.mask.index(1)
    short = [conv[:2] + [conv[2].model_copy(update={"train": False})]]  # no trained token at all
    labels = labels_seen_by_trainer([conv] + short, tiny_tokenizer, max_length=first_trained + 3)
    assert labels[0] == [t if b else -100 for t, b in zip(tc.input_ids, tc.mask)][: first_trained + 3]
    assert labels[1] is None


def test_trainer_loss_is_cross_entropy_on_masked_tokens_only(make_conversations, tiny_tokenizer, tmp_path):
    import torch

    from mulligan.training.sft import make_trainer
    from mulligan.training.tiny import build_tiny_model

    convs = make_conversations(2)
    model = build_tiny_model(tiny_tokenizer, hidden_size=32, num_layers=1, num_heads=2)
    trainer = make_trainer(convs, model, tiny_tokenizer, tmp_path, progress=False)
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    batch = trainer.data_collator([{k: r[k] for k in ("input_ids", "labels")} for r in rows])
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    masks = {r["row"]: tokenize_conversation(convs[r["row"]], tiny_tokenizer).mask for r in rows}
    nll, n = 0.0, 0
    for b, r in enumerate(rows):
        ids, mask = r["input_ids"], masks[r["row"]]
        logp = torch.log_softmax(logits[b].float(), dim=-1)
        for t in range(1, len(ids)):
            if mask[t]:
                nll -= logp[t - 1, ids[t]].item()
                n += 1
    assert n == sum(sum(m) for m in masks.values())
    assert loss.item() == pytest.approx(nll / n, rel=1e-4)
