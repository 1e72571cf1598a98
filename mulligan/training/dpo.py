"""Preference fine-tuning through TRL's ``DPOTrainer`` on ``dpo`` rows (prompt, chosen, rejected).

Rows stay in TRL's conversational form: ``prompt`` is the transcript up to the state both replies
answer, ``chosen`` and ``rejected`` one assistant message each. TRL renders them with the
tokenizer's chat template (the prompt with the generation header, then each reply with its end
token) and trains on the two replies only. The reference policy is the starting checkpoint: a
frozen copy loaded from the same folder for full fine-tuning, the base weights under disabled
adapters for LoRA (TRL's default when ``ref_model`` is None).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import datasets
import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from mulligan.errors import ConfigError
from mulligan.training.sft import _lora_config
from mulligan.training.trainer_common import ReleaseFreedMemory, save_trained, silence, training_args

SIDES = ("prompt", "chosen", "rejected")


def preference_dataset(rows: Sequence[dict[str, Any]]) -> Dataset:
    """The rows as a conversational preference dataset (role and content of each message only)."""
    if not rows:
        raise ConfigError("DPO needs at least one (prompt, chosen, rejected) row")
    columns: dict[str, list[Any]] = {side: [] for side in SIDES}
    for row in rows:
        for side in SIDES:
            columns[side].append([{"role": m["role"], "content": m.get("content") or ""} for m in row[side]])
    return Dataset.from_dict(columns)


def make_dpo_trainer(
    rows: Sequence[dict[str, Any]],
    model_path: str | os.PathLike[str],
    tokenizer: Any,
    out_dir: str | os.PathLike[str],
    *,
    epochs: float = 1.0,
    lr: float = 5e-5,
    beta: float = 0.1,
    batch_size: int = 8,
    max_length: int | None = 2048,
    lora: bool = False,
    seed: int = 0,
    progress: bool = True,
    logging_steps: int = 10,
    report_to: Sequence[str] = (),
    run_name: str | None = None,
) -> DPOTrainer:
    """Build (but do not run) a ``DPOTrainer``.

    Args:
        rows: Rows with ``prompt``, ``chosen`` and ``rejected`` message lists (``mulligan export --format dpo``).
        model_path: The checkpoint to start from; also the reference policy.
        tokenizer: Its tokenizer, with a chat template and a pad token.
        out_dir: The trainer's output folder.
        epochs: Passes over the rows.
        lr: Peak learning rate (cosine schedule).
        beta: DPO's temperature: how far the policy may move from the reference.
        batch_size: Pairs per optimizer step.
        max_length: Prompt + reply tokens kept per side; a pair whose prompt alone is longer is dropped.
        lora: Train LoRA adapters (rank 16 on every linear layer).
        seed: Seed of the data order and the adapters.
        progress: Show the Trainer's progress bar and loss logs.
        logging_steps: Optimizer steps between loss logs.
        report_to, run_name: TRL's trackers and the run's name there (:mod:`mulligan.training.trackers`).
    """
    common = training_args(out_dir, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress,
                           logging_steps=logging_steps, report_to=report_to, run_name=run_name)
    config = DPOConfig(beta=beta, max_length=max_length, model_init_kwargs={"dtype": torch.float32}, **common)
    bars_were_on = datasets.is_progress_bar_enabled()
    if not progress:
        datasets.disable_progress_bars()
    try:
        trainer = DPOTrainer(
            model=str(model_path),
            args=config,
            train_dataset=preference_dataset(rows),
            processing_class=tokenizer,
            peft_config=_lora_config() if lora else None,
            callbacks=[ReleaseFreedMemory()],
        )
    finally:
        if not progress and bars_were_on:
            datasets.enable_progress_bars()
    return trainer if progress else silence(trainer)


def train_dpo(rows: Sequence[dict[str, Any]], model_path: str | os.PathLike[str], tokenizer: Any,
              out_dir: str | os.PathLike[str], **options: Any) -> Path:
    """Fine-tune a checkpoint on preference rows with DPO.

    Args:
        rows, model_path, tokenizer, out_dir: As for :func:`make_dpo_trainer`; ``out_dir`` receives
            the checkpoint.
        **options: Options of :func:`make_dpo_trainer` (epochs, lr, beta, batch_size, lora, ...).

    Returns:
        ``out_dir``, holding the model (LoRA adapters merged), the tokenizer and ``train_log.json``.

    Raises:
        ConfigError: No row, or every pair's prompt is longer than ``max_length``.
    """
    trainer = make_dpo_trainer(rows, model_path, tokenizer, out_dir, **options)
    if len(trainer.train_dataset) == 0:
        raise ConfigError(f"every DPO pair's prompt is longer than max_length={options.get('max_length', 2048)}")
    trainer.train()
    return save_trained(trainer, tokenizer, out_dir, lora=bool(options.get("lora")))
