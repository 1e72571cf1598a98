"""``mulligan train --grpo ENV``: GRPO on an env's episodes, from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console


def train_grpo_command(env: str, model: str, out: Path, *, lora: bool, epochs: float | None, lr: float | None,
                       batch_size: int, seed: int, options: dict[str, Any], console: Console,
                       report_to: list[str] | None = None) -> None:
    """Run :func:`~mulligan.training.grpo.train_grpo` and print what it did.

    ``options`` are :class:`~mulligan.training.grpo.EnvGRPOConfig` fields (``-o tasks=64 -o num_generations=8``).
    """
    from mulligan.training.grpo import train_grpo
    from mulligan.training.trackers import check_report_to

    report_to = check_report_to(report_to or [])
    given = {"epochs": epochs, "lr": lr, "report_to": report_to or None}
    result = train_grpo(model, out, lora=lora, env=env, batch_size=batch_size, seed=seed,
                        **{k: v for k, v in given.items() if v is not None}, **options)
    reward = f"{result.reward:.3f}" if result.reward is not None else "-"
    console.print(f"grpo on {env}: {result.steps} steps, {result.episodes} episodes ({result.success:.1%} won), "
                  f"last mean reward {reward}, {result.wall_s:.0f} s -> {result.out}")
