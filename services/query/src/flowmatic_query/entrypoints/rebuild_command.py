"""`python -m flowmatic_query rebuild`: the rebuild with a progress bar on stderr and a closing summary."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from flowmatic_query.domain.rebuild_progress import render_progress
from flowmatic_query.entrypoints.rebuild import rebuild_read_models
from flowmatic_query.settings import Settings

# A terminal gets the bar redrawn in place at most this often; a pipe or file gets a line this often.
TTY_REFRESH_SECONDS = 0.1
LOG_REFRESH_SECONDS = 5.0


class ProgressBar:
    """Draws `render_progress` lines: in place on a terminal, as periodic lines otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = 0.0
        self._line = ""

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        self._line = render_progress(done, total, elapsed)
        now = time.monotonic()
        if now - self._last < (TTY_REFRESH_SECONDS if self._tty else LOG_REFRESH_SECONDS):
            return
        self._last = now
        self._draw()

    def _draw(self) -> None:
        if self._tty:
            self._stream.write("\r" + self._line)
        else:
            self._stream.write(self._line + "\n")
        self._stream.flush()

    def finish(self) -> None:
        if self._line:
            self._draw()
            if self._tty:
                self._stream.write("\n")
            self._stream.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowmatic projections rebuild",
        description="Rebuild every read model from offset 0 into fresh tables and swap them in atomically.",
    )
    parser.add_argument(
        "--keep-retired", action="store_true", help="keep the replaced tables in a retired_<stamp> schema"
    )
    return parser


async def run_rebuild(argv: Sequence[str], settings: Settings) -> int:
    """Run the rebuild; the summary goes to stdout, the bar to stderr."""
    args = build_parser().parse_args(list(argv))
    bar = ProgressBar(sys.stderr)
    report = await rebuild_read_models(settings, on_progress=bar, keep_retired=args.keep_retired)
    bar.finish()
    print(
        f"rebuilt {len(report.tables)} tables from {report.records:,} records in {report.seconds:.1f} s"
        f" ({report.rate:,.0f} records/s); swapped in atomically",
        flush=True,
    )
    if report.retired_schema:
        print(f"the replaced tables are kept in schema {report.retired_schema}", flush=True)
    return 0
