"""``mulligan train``: fine-tune a checkpoint on an exported dataset (SFT, or DPO), LoRA optional.

SFT rows go through :func:`~mulligan.training.sft.train_sft`, whose masks put the loss exactly on
the assistant messages flagged ``train``; DPO rows through :func:`~mulligan.training.dpo.train_dpo`.
The output is a plain checkpoint folder (LoRA adapters merged) with its tokenizer and chat
template, so every backend runs it: ``transformers:DIR``, ``mulligan serve --model DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from mulligan.errors import ConfigError
from mulligan.training.rowfile import load_rows
from mulligan.training.trackers import check_report_to

DEFAULT_LR = {"sft": 5e-4, "dpo": 5e-5}
"""Peak learning rates when none is given: continued training of a small policy. For full
fine-tuning of a large pretrained model use about 1e-5 (SFT) and 5e-7 (DPO)."""


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune` did.

    Attributes:
        out: The checkpoint folder written.
        kind: ``sft`` or ``dpo``.
        rows: Rows trained on.
        base: The checkpoint it started from.
        wall_s: Seconds spent.
        final_loss: The last logged training loss (None when nothing was logged).
    """

    out: Path
    kind: str
    rows: int
    base: str
    wall_s: float
    final_loss: float | None


def resolve_checkpoint(model: str) -> Path:
    """A local checkpoint folder for ``model``: a path (``transformers:`` prefix allowed) or ``default``.

    Raises:
        ConfigError: Not a folder holding a model (``config.json``).
    """
    if model == "default":
        from mulligan.training.default_policy import ensure_default_policy

        return ensure_default_policy()
    for prefix in ("transformers:", "hf:"):
        if model.startswith(prefix):
            model = model[len(prefix):]
    path = Path(model.split("?", 1)[0]).expanduser()
    try:
        found = (path / "config.json").is_file()
    except OSError as e:
        raise ConfigError(f"{model!r}: cannot read the folder ({e.strerror or e})") from None
    if not found:
        raise ConfigError(f"{model!r} is not a local checkpoint folder (no config.json); give a path or 'default'")
    return path


def sft_conversations(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The conversations SFT trains on: each row's messages with their ``train`` flags.

    Raises:
        ConfigError: No row has a trained assistant message (there would be nothing to learn).
    """
    convs = [list(row["messages"]) for row in rows]
    if not any(m["role"] == "assistant" and m.get("train") is not False for conv in convs for m in conv):
        raise ConfigError("no row has an assistant message with train=true: there is nothing to learn")
    return convs


def load_tokenizer(path: Path) -> Any:
    """The checkpoint's tokenizer; it must have a chat template."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot load the tokenizer of {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if not tokenizer.chat_template:
        raise ConfigError(f"the tokenizer of {path} has no chat template")
    return tokenizer


def _final_loss(out: Path) -> float | None:
    log = json.loads((out / "train_log.json").read_text()) if (out / "train_log.json").exists() else []
    losses = [e.get("loss", e.get("train_loss")) for e in log if "loss" in e or "train_loss" in e]
    return float(losses[-1]) if losses else None


def finetune(
    data: str | os.PathLike[str],
    model: str,
    out: str | os.PathLike[str],
    *,
    dpo: bool = False,
    lora: bool = False,
    epochs: float | None = None,
    lr: float | None = None,
    batch_size: int = 8,
    max_length: int = 2048,
    beta: float = 0.1,
    seed: int = 0,
    progress: bool = True,
    report_to: Sequence[str] = (),
    run_name: str | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` on the rows of ``data`` and write the checkpoint to ``out``.

    Args:
        data: A JSONL file written by ``mulligan export`` (SFT formats, or ``dpo`` with ``dpo=True``).
        model: A local checkpoint folder or ``default`` (the embedded policy).
        out: The new checkpoint folder; it must not hold anything yet. Written under a temporary
            name and renamed when complete, so a folder at ``out`` is always a whole checkpoint.
        dpo: Train with DPO on (prompt, chosen, rejected) rows instead of SFT.
        lora: Train LoRA adapters (merged into the saved weights).
        epochs: Passes over the data (default 2 for SFT, 1 for DPO).
        lr: Peak learning rate (default :data:`DEFAULT_LR`).
        batch_size: Rows per optimizer step.
        max_length: Tokens kept per row (SFT: the first ones; DPO: a pair whose prompt is longer is dropped).
        beta: DPO's beta.
        seed: Seed of the data order and of LoRA's initialisation.
        progress: Show the trainer's progress and loss logs.
        report_to: Trackers TRL logs the training to (``tensorboard``, ``trackio``, ``wandb``, ``mlflow``;
            see :mod:`mulligan.training.trackers`); TensorBoard's files go to ``out/runs/``.
        run_name: The run's name in the trackers (default: ``out``'s folder name).

    Returns:
        What was trained; ``out/finetune.json`` records it too.

    Raises:
        ConfigError: Missing data file, empty data, bad model, or ``out`` not empty.
        CorruptFileError: A broken line in ``data`` (file and line named).
    """
    kind = "dpo" if dpo else "sft"
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; --out must be a new or empty folder")
    try:
        if out.exists() and any(out.iterdir()):
            raise ConfigError(f"{out} already holds files; choose another --out")
    except OSError as e:
        raise ConfigError(f"{out}: cannot read the folder ({e.strerror or e})") from None
    report_to = check_report_to(report_to)
    rows = load_rows(data, dpo=dpo)
    base = resolve_checkpoint(model)
    tokenizer = load_tokenizer(base)
    epochs = epochs if epochs is not None else (1.0 if dpo else 2.0)
    lr = lr if lr is not None else DEFAULT_LR[kind]
    started = time.perf_counter()
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    common = dict(epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length, lora=lora, seed=seed,
                  progress=progress, report_to=report_to, run_name=run_name or out.name)
    if dpo:
        from mulligan.training.dpo import train_dpo

        train_dpo(rows, base, tokenizer, partial, beta=beta, **common)
    else:
        from mulligan.training.sft import train_sft

        train_sft(sft_conversations(rows), str(base), tokenizer, partial, **common)
    result = FinetuneResult(out, kind, len(rows), str(base), time.perf_counter() - started, _final_loss(partial))
    meta = {**asdict(result), "out": str(out), "data": str(data), "beta": beta if dpo else None, **common}
    (partial / "finetune.json").write_text(json.dumps(meta, indent=2))
    if out.exists():
        out.rmdir()
    partial.rename(out)
    return result
