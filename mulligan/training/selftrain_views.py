"""What the self-training loop leaves after every iteration: the HTML report and the trackers' metrics.

Neither may stop the loop: a failure is said on the console and the loop goes on (the report can be
written again at any time with ``mulligan report OUT``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from mulligan.training.methods import SelfTrainConfig
from mulligan.training.trackers import log_iteration

REPORT = "report.html"


def after_iteration(config: SelfTrainConfig, out: Path, records: Sequence[dict[str, Any]],
                    say: Callable[[str], None]) -> None:
    """Write ``OUT/report.html`` over the iterations so far and log the latest one to ``config.report_to``."""
    from mulligan.report import write_report

    try:
        write_report([out], out / REPORT, title=f"{config.method} on {config.env} ({out.name})")
    except Exception as e:  # noqa: BLE001 - a view never stops the loop
        say(f"[yellow]note:[/yellow] no report this iteration ({type(e).__name__}: {e})")
    if config.report_to and records:
        try:
            log_iteration(config.report_to, out, records[-1], run_name=out.name)
        except Exception as e:  # noqa: BLE001 - a tracker never stops the loop
            say(f"[yellow]note:[/yellow] trackers did not log iteration {records[-1].get('iteration')} "
                f"({type(e).__name__}: {e})")
