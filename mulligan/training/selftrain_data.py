"""The training rows of one self-training iteration, from its collected trajectories.

Three rules on top of the export formats:

- Actions the env answered with no effect stay in context but carry no loss (``mask_no_effect``):
  a success that wasted turns on impossible commands should not teach them. This is STeP's
  masking applied to the policy's own successes; replies that could not be parsed already have
  no loss in every format.
- A conversation that several samples produced alike is kept once.
- No row may come from the expert: self-training learns from the policy, the reflector, the
  teacher (labelled ``teacher``) and the search, never from fresh demonstrations.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from mulligan.errors import RunError
from mulligan.records import Trajectory
from mulligan.training.export import build_rows
from mulligan.training.rows import Transcript


def mask_no_effect(traj: Trajectory) -> Trajectory:
    """A copy of ``traj`` whose replies to no-effect actions have ``train=False``."""
    out = traj.model_copy(deep=True)
    transcript = Transcript.of(out)
    if transcript is None:
        return out
    for j, step in enumerate(transcript.steps):
        if not step.valid:
            transcript.messages[transcript.reply(j)].train = False
    return out


def unique_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the same conversation kept once (the first), in order."""
    seen: set[str] = set()
    out = []
    for row in rows:
        key = json.dumps(row.get("messages") or [row.get(f) for f in ("prompt", "chosen", "rejected")], sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def iteration_rows(trajs: Sequence[Trajectory], formats: Sequence[str], *, mask: bool = True) -> list[dict[str, Any]]:
    """The rows of ``formats`` built from ``trajs`` under the rules of the module docstring.

    Raises:
        RunError: A row holds an expert demonstration.
    """
    if mask:
        trajs = [mask_no_effect(t) for t in trajs]
    rows = unique_rows(r for fmt in formats for r in build_rows(trajs, fmt))
    experts = sum(1 for r in rows if r.get("source") == "expert")
    if experts:
        raise RunError(f"{experts} exported rows hold expert demonstrations; self-training never uses them")
    return rows
