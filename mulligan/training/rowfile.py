"""Reading an exported dataset (``mulligan export``'s JSONL) back for training, strictly.

Every line must be a whole row: SFT rows hold ``messages`` (with per-message ``train`` flags), DPO
rows hold ``prompt``, ``chosen`` and ``rejected``. Anything else is an error naming the file and
the line, because a silently skipped row would change what the model learns.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mulligan.errors import ConfigError, CorruptFileError

ROLES = ("system", "user", "assistant", "tool")
DPO_FIELDS = ("prompt", "chosen", "rejected")


def _check_messages(value: Any, where: str, field: str) -> None:
    if not isinstance(value, list) or not value:
        raise CorruptFileError(f"{where}: {field!r} must be a non-empty list of messages")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content", ""), str):
            raise CorruptFileError(
                f"{where}: {field}[{i}] is not a message with a role ({', '.join(ROLES)}) and text content"
            )
        if "train" in m and not isinstance(m["train"], (bool, type(None))):
            raise CorruptFileError(f"{where}: {field}[{i}].train must be true, false or null")


def _check_row(row: Any, where: str, dpo: bool) -> None:
    if not isinstance(row, dict):
        raise CorruptFileError(f"{where}: a row must be a JSON object")
    if dpo:
        missing = [f for f in DPO_FIELDS if f not in row]
        if missing:
            hint = " (an SFT row: drop --dpo)" if "messages" in row else ""
            needs = ", ".join(DPO_FIELDS)
            raise CorruptFileError(f"{where}: a DPO row needs {needs}; missing {', '.join(missing)}{hint}")
        for f in DPO_FIELDS:
            _check_messages(row[f], where, f)
        return
    if "messages" not in row:
        hint = " (a DPO row: pass --dpo)" if "chosen" in row else ""
        raise CorruptFileError(f"{where}: an SFT row needs 'messages'{hint}")
    _check_messages(row["messages"], where, "messages")


def load_rows(path: str | os.PathLike[str], *, dpo: bool = False) -> list[dict[str, Any]]:
    """The rows of an exported JSONL file, each checked.

    Args:
        path: A ``<format>.jsonl`` written by ``mulligan export``.
        dpo: Expect DPO rows (prompt/chosen/rejected) instead of SFT rows (messages).

    Raises:
        ConfigError: The file does not exist or holds no row.
        CorruptFileError: A line is not JSON or not a row of the expected kind (file and line named).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give the exported <format>.jsonl file inside it")
    if not path.is_file():
        raise ConfigError(f"{path}: no such data file (write one with `mulligan export RUN_DIR --format F --out DIR`)")
    rows = []
    try:
        with open(path, "rb") as f:
            for number, data in enumerate(f, start=1):
                where = f"{path}:{number}"
                try:
                    line = data.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise CorruptFileError(f"{where}: not UTF-8 text (byte {e.start + 1} of the line)") from None
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise CorruptFileError(f"{where}: not JSON ({e.msg} at column {e.colno})") from None
                _check_row(row, where, dpo)
                rows.append(row)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not rows:
        raise ConfigError(f"{path}: the file holds no rows")
    return rows
