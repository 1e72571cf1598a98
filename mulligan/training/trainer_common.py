"""What mulligan's TRL trainers share: the arguments of a small local run, quiet progress, saving.

:mod:`mulligan.training.dpo` builds on these; :mod:`mulligan.training.sft` spells the same
settings out inline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback


def native_bf16() -> bool:
    """Whether bfloat16 autocast runs natively here (a GPU with bf16, or a CPU with AVX512-BF16)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    # Without AVX512-BF16 the CPU emulates bfloat16 and autocast is slower than float32.
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(check and check())


def _training_fields() -> set[str]:
    import dataclasses

    from transformers import TrainingArguments

    return {f.name for f in dataclasses.fields(TrainingArguments)}


def training_args(out_dir: str | os.PathLike[str], *, epochs: float, lr: float, batch_size: int, seed: int,
                  progress: bool, logging_steps: int, bf16: bool | None = None,
                  report_to: list[str] | tuple[str, ...] = (), run_name: str | None = None) -> dict[str, Any]:
    """Keyword arguments of a TRL config (``SFTConfig``, ``DPOConfig``) for a run on this machine.

    Cosine schedule, no intermediate checkpoints, CPU unless a GPU is there, bfloat16 autocast
    only where the hardware runs it natively, no activation checkpointing (TRL's default, which at
    these model sizes only costs time). ``report_to``: TRL's trackers (none by default), the run
    named ``run_name`` in the project ``mulligan`` (see :mod:`mulligan.training.trackers`).
    """
    tracking: dict[str, Any] = {"report_to": list(report_to), "run_name": run_name}
    if report_to and "project" in _training_fields():
        tracking["project"] = "mulligan"
    return dict(
        output_dir=str(out_dir),
        num_train_epochs=epochs,
        learning_rate=lr,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=1,
        lr_scheduler_type="cosine",
        seed=seed,
        data_seed=seed,
        logging_steps=logging_steps,
        save_strategy="no",
        **tracking,
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=False,
        bf16=native_bf16() if bf16 is None else bf16,
        fp16=False,
    )


class ReleaseFreedMemory(TrainerCallback):
    """A Trainer callback that hands memory freed by the allocator back to the system every few steps.

    On CPU, batches of changing lengths leave glibc's heap fragmented: freed tensors stay mapped,
    and a tiny model's training grew past 12 GB in 600 steps here. ``malloc_trim`` returns that
    memory (measured: 12.1 GB -> 2.6 GB). Does nothing where glibc is absent.
    """

    def __init__(self, every: int = 20):
        import ctypes
        import ctypes.util

        self.every = every
        try:
            self._trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            self._trim = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self._trim is not None and state.global_step % self.every == 0:
            self._trim(0)
        return control


def silence(trainer: Any) -> Any:
    """Remove the trainer's progress bar and log printer; returns it."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for callback in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(callback)
    return trainer


def save_trained(trainer: Any, tokenizer: Any, out_dir: str | os.PathLike[str], *, lora: bool) -> Path:
    """Write the trained model (LoRA adapters merged), its tokenizer and ``train_log.json`` to ``out_dir``."""
    out = Path(out_dir)
    model = trainer.model.merge_and_unload() if lora else trainer.model
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "train_log.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    return out
