"""The report page: one self-contained HTML file (inline script and style, no network).

The data travels as gzip-compressed, base64-encoded JSON inside ``<script type="text/plain">``
elements, which the browser stores without parsing: the summary and the episode table load on
open, and each episode's turns are unpacked (by the browser's own ``DecompressionStream``) only
when it is opened, a chunk of :data:`CHUNK` episodes at a time. So a run of 10,000 episodes is a
file of a few megabytes that opens in about as long as a small one (BENCHMARKS.md).
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from mulligan.report.episodes import detail, index_row
from mulligan.report.runs import RunReader
from mulligan.report.summary import compare, run_summary

CHUNK = 100
"""Episodes per packed chunk of turn-by-turn data."""

FORMAT = "mulligan-report-1"


def pack(obj: Any) -> str:
    """JSON, gzip-compressed, base64-encoded: what the page's ``unpack`` reads."""
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def unpack(text: str) -> Any:
    """The inverse of :func:`pack` (for tests and tools)."""
    return json.loads(gzip.decompress(base64.b64decode(text)))


@dataclass
class Payload:
    """What a page shows: ``main`` (runs, figures, episode rows) and the packed chunks of episode details."""

    main: dict[str, Any]
    readers: Sequence[RunReader]

    def chunk(self, run: int, k: int) -> list[dict[str, Any]]:
        """The details of episodes ``k*CHUNK`` to ``(k+1)*CHUNK - 1`` of run ``run``."""
        trajs = self.readers[run].trajectories[k * CHUNK:(k + 1) * CHUNK]
        return [detail(t) for t in trajs]

    def chunk_keys(self) -> list[tuple[int, int]]:
        return [(r, k) for r, reader in enumerate(self.readers) for k in range(-(-len(reader.trajectories) // CHUNK))]


def build(readers: Sequence[RunReader], *, title: str, selftrain: Sequence[dict[str, Any]] = ()) -> Payload:
    """The payload of a page over ``readers`` (already polled)."""
    runs, rows, problems = [], [], []
    for r, reader in enumerate(readers):
        summary = run_summary(reader.trajectories, reader.summary, reader.config)
        runs.append({"label": reader.label, "path": str(reader.path), "summary": summary,
                     "pending": reader.pending_bytes > 0})
        rows += [index_row(t, r, i) for i, t in enumerate(reader.trajectories)]
        problems += reader.problems
    main = {
        "format": FORMAT, "title": title, "created": time.strftime("%Y-%m-%d %H:%M:%S"), "chunk": CHUNK,
        "runs": runs, "rows": rows, "problems": problems, "selftrain": list(selftrain),
        "compare": compare([reader.trajectories for reader in readers]) if len(readers) > 1 else None,
    }
    return Payload(main, readers)


def _asset(name: str) -> str:
    return resources.files("mulligan.report").joinpath("assets", name).read_text(encoding="utf-8")


def render(payload: Payload, *, live: bool = False) -> str:
    """The HTML page. ``live``: the page leaves the chunks out and asks the server that sent it."""
    blocks = [f'<script type="text/plain" id="mulligan-main">{pack(payload.main)}</script>']
    if not live:
        blocks += [f'<script type="text/plain" id="chunk-{r}-{k}">{pack(payload.chunk(r, k))}</script>'
                   for r, k in payload.chunk_keys()]
    page = _asset("report.html")
    page = page.replace("{{title}}", html.escape(payload.main["title"]))
    page = page.replace("{{live}}", "true" if live else "false")
    page = page.replace("/*{{style}}*/", _asset("report.css"))
    page = page.replace("/*{{script}}*/", _asset("report.js"))
    return page.replace("<!--{{data}}-->", "\n".join(blocks))


def write(payload: Payload, out: Path) -> int:
    """Write the page to ``out`` (whole: through a temporary file); returns its size in bytes."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = render(payload).encode("utf-8")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return len(data)
