"""Supervised fine-tuning through TRL's ``SFTTrainer`` with exact per-message loss masks.

How the masks reach the loss: every conversation is tokenized by
:func:`mulligan.training.masking.tokenize_conversation` into a pre-tokenized row with the columns
``input_ids`` and ``assistant_masks``. ``SFTTrainer`` recognises a dataset with ``input_ids`` as
already processed, skips its own chat-template tokenization, and folds ``assistant_masks`` into a
``labels`` column (``-100`` where the mask is 0) before truncating to ``max_length``; its collator
then pads ``labels`` with ``-100``. ``assistant_only_loss`` stays False (it would re-render the
conversations with ``{% generation %}`` markers, which mulligan's masks replace) and
``completion_only_loss`` stays False (there is no prompt/completion split).
:func:`trainer_labels` returns what that pipeline hands the model, for tests to compare with the
``train`` flags.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import datasets
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, PreTrainedModel
from trl import SFTConfig, SFTTrainer

from mulligan.errors import ConfigError
from mulligan.records import Message
from mulligan.training.trainer_common import ReleaseFreedMemory, save_trained, silence, training_args
from mulligan.training.masking import tokenize_conversation

Conversation = Sequence[Message | dict[str, Any]]


def build_dataset(
    conversations: Sequence[Conversation], tokenizer: Any, *, end_token_ids: Sequence[int] | None = None
) -> Dataset:
    """Pre-tokenize conversations into the rows ``SFTTrainer`` consumes as they are.

    Args:
        conversations: Conversations of messages with ``train`` flags.
        tokenizer: The tokenizer (with chat template) of the model to train.
        end_token_ids: Passed to :func:`~mulligan.training.masking.tokenize_conversation`.

    Returns:
        A dataset with the columns ``input_ids``, ``assistant_masks`` and ``row`` (the index of
        the conversation, kept so trainer-side rows can be matched back).
    """
    rows: dict[str, list[Any]] = {"input_ids": [], "assistant_masks": [], "row": []}
    for i, conv in enumerate(conversations):
        r = tokenize_conversation(conv, tokenizer, end_token_ids=end_token_ids).to_row()
        rows["input_ids"].append(r["input_ids"])
        rows["assistant_masks"].append(r["assistant_masks"])
        rows["row"].append(i)
    return Dataset.from_dict(rows)


def _load_model(model_path_or_model: str | os.PathLike[str] | PreTrainedModel) -> PreTrainedModel:
    if isinstance(model_path_or_model, PreTrainedModel):
        return model_path_or_model
    return AutoModelForCausalLM.from_pretrained(str(model_path_or_model), dtype=torch.float32)


def _lora_config(r: int = 16) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


def make_trainer(
    conversations: Sequence[Conversation],
    model_path_or_model: str | os.PathLike[str] | PreTrainedModel,
    tokenizer: Any,
    out_dir: str | os.PathLike[str],
    *,
    epochs: float = 3.0,
    lr: float = 2e-3,
    batch_size: int = 8,
    max_length: int | None = 1024,
    lora: bool = False,
    seed: int = 0,
    progress: bool = True,
    warmup: float = 0.05,
    weight_decay: float = 0.0,
    logging_steps: int = 10,
    end_token_ids: Sequence[int] | None = None,
    bf16: bool | None = None,
    report_to: Sequence[str] = (),
    run_name: str | None = None,
) -> SFTTrainer:
    """Build (but do not run) the ``SFTTrainer`` that :func:`train_sft` runs.

    Arguments are described in :func:`train_sft`, plus ``warmup`` (fraction of steps), ``weight_decay``,
    ``logging_steps``, ``end_token_ids`` (see :func:`~mulligan.training.masking.tokenize_conversation`),
    ``report_to`` and ``run_name`` (TRL's trackers, :mod:`mulligan.training.trackers`) and ``bf16`` (bfloat16 autocast over float32 weights; None: on where the hardware runs it natively,
    which on a CPU with AVX512-BF16 made tiny-model training 1.1-1.6x faster in
    ``benchmarks/tiny_train_speed.py``).

    Returns:
        The trainer, with its prepared ``train_dataset`` (columns ``input_ids``, ``labels``, ``row``).
    """
    if not conversations:
        raise ConfigError("train_sft needs at least one conversation")
    dataset = build_dataset(conversations, tokenizer, end_token_ids=end_token_ids)
    model = _load_model(model_path_or_model)
    config = SFTConfig(
        **training_args(out_dir, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress,
                        logging_steps=logging_steps, bf16=bf16, report_to=report_to, run_name=run_name),
        warmup_steps=warmup,
        weight_decay=weight_decay,
        max_length=max_length,
        assistant_only_loss=False,
        completion_only_loss=False,
        packing=False,
        padding_free=False,
        # Batches of similar lengths waste less compute on padding; lengths rounded up to 64 give
        # the CPU kernels few distinct shapes to plan for (and the allocator less to fragment).
        train_sampling_strategy="group_by_length",
        pad_to_multiple_of=64,
    )
    bars_were_on = datasets.is_progress_bar_enabled()
    if not progress:
        datasets.disable_progress_bars()
    try:
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=_lora_config() if lora else None,
            callbacks=[ReleaseFreedMemory()],
        )
    finally:
        if not progress and bars_were_on:
            datasets.enable_progress_bars()
    if not progress:
        silence(trainer)
    return trainer


def train_sft(
    conversations: Sequence[Conversation],
    model_path_or_model: str | os.PathLike[str] | PreTrainedModel,
    tokenizer: Any,
    out_dir: str | os.PathLike[str],
    **options: Any,
) -> Path:
    """Fine-tune a causal LM on conversations, with loss exactly on the ``train`` messages.

    Args:
        conversations: Conversations (lists of :class:`~mulligan.records.Message` or dicts with
            ``role``/``content``/``train``). Loss is on assistant messages whose ``train`` is True
            or None: their content and end-of-turn token.
        model_path_or_model: A local checkpoint directory or a loaded model.
        tokenizer: The model's tokenizer, with a chat template.
        out_dir: Where the trained checkpoint is written.
        **options: The options of :func:`make_trainer`: ``epochs``, ``lr`` (peak of a cosine
            schedule; the default suits a tiny model trained from scratch, use about 1e-4 to fully
            fine-tune a pretrained one), ``batch_size`` (conversations per step), ``max_length``
            (longer conversations keep their first tokens; None keeps them whole), ``lora`` (rank-16
            adapters on every linear layer, merged before saving, so ``out_dir`` always loads
            without peft), ``seed``, ``progress``, and the rest listed there.

    Returns:
        ``out_dir``, holding the model, the tokenizer (both via ``save_pretrained``) and
        ``train_log.json`` (the Trainer's log history: loss per logging step, throughput).
    """
    out = Path(out_dir)
    trainer = make_trainer(conversations, model_path_or_model, tokenizer, out, **options)
    trainer.train()
    return save_trained(trainer, tokenizer, out, lora=bool(options.get("lora", False)))


def trainer_labels(trainer: SFTTrainer) -> dict[int, list[int]]:
    """The labels ``trainer`` hands the model, per conversation, as its own collator builds them.

    Args:
        trainer: A trainer from :func:`make_trainer` (trained or not).

    Returns:
        For each conversation index that the trainer kept (TRL drops conversations left with no
        trained token after truncation), the label ids of its unpadded tokens: the token id where
        the loss applies, ``-100`` elsewhere.
    """
    dataset = trainer.train_dataset
    rows = [dataset[i] for i in range(len(dataset))]
    batch = trainer.data_collator([{k: r[k] for k in ("input_ids", "labels")} for r in rows])
    labels = batch["labels"]
    lengths = batch["attention_mask"].sum(dim=1)
    return {r["row"]: labels[i, : int(lengths[i])].tolist() for i, r in enumerate(rows)}


def labels_seen_by_trainer(
    conversations: Sequence[Conversation], tokenizer: Any, *, max_length: int | None = None, **kwargs: Any
) -> list[list[int] | None]:
    """The labels TRL would train on for each conversation, without training anything.

    Builds a trainer around a throwaway one-layer model (label building does not depend on the
    model) and reads its collated labels with :func:`trainer_labels`.

    Args:
        conversations: Conversations as for :func:`train_sft`.
        tokenizer: The tokenizer with its chat template.
        max_length: Truncation length, as in :func:`train_sft`.
        **kwargs: Further options of :func:`make_trainer` (``end_token_ids``, ...).

    Returns:
        One list of labels per conversation (``-100`` where no loss applies), or None for a
        conversation the trainer drops because no trained token is left in it.
    """
    import tempfile

    from mulligan.training.tiny import build_tiny_model

    model = build_tiny_model(tokenizer, hidden_size=16, num_layers=1, num_heads=1, intermediate_size=16)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(
            conversations, model, tokenizer, tmp, max_length=max_length, progress=False, bf16=False, **kwargs
        )
        labels = trainer_labels(trainer)
    return [labels.get(i) for i in range(len(conversations))]
