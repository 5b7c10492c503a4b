"""Progress of a sweep: a tqdm bar on a terminal, a plain line at most every 30 s in a log file.

A redirected run (stderr not a terminal: a batch job, `2> log`) gets lines like

    tiny: 40/96 points (42%), units 5/12, 0:00:31 elapsed, about 0:00:43 left

one when the sweep starts, then at most one every ``log_interval_s`` seconds, and a last one at the
end, instead of a carriage-return update every fraction of a second (issue 13, item 6).
"""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

LOG_INTERVAL_S = 30.0


def _clock_text(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(max(0.0, seconds))))


class SweepProgress:
    """Points done out of `total` (read from the run directory by the caller) and units done.

    stream: where to write (default sys.stderr); a terminal gets tqdm, anything else log lines.
    clock: seconds, monotonic (injectable for tests).
    """

    def __init__(
        self,
        name: str,
        total: int,
        initial: int,
        n_units: int,
        done_units: int,
        *,
        stream: TextIO | None = None,
        log_interval_s: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not log_interval_s >= 0:
            raise ValueError(f"log_interval_s must be >= 0; got {log_interval_s!r}")
        self.name, self.total, self.n_units = name, total, n_units
        self.stream = sys.stderr if stream is None else stream
        self.log_interval_s, self.clock = log_interval_s, clock
        self.points, self.done_units = initial, done_units
        self._start_points = initial
        self._start = clock()
        self._last_line: float | None = None
        self._bar: Any = None
        isatty = getattr(self.stream, "isatty", None)
        if callable(isatty) and isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, initial=initial, unit="point", desc=name, dynamic_ncols=True, file=self.stream
            )
            self._bar.set_postfix_str(f"units {done_units}/{n_units}")
        else:
            self._write_line()

    def update(self, points: int, done_units: int) -> None:
        """Record the current counts; draw the bar, or write a log line when the interval has passed."""
        self.points, self.done_units = points, done_units
        if self._bar is not None:
            self._bar.update(points - self._bar.n)
            self._bar.set_postfix_str(f"units {done_units}/{self.n_units}")
        elif self._last_line is None or self.clock() - self._last_line >= self.log_interval_s:
            self._write_line()

    def close(self) -> None:
        """Final state: close the bar, or write the last log line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._last_line is not None:
            self._write_line()
            self._last_line = None

    def line(self) -> str:
        """The log line for the current counts."""
        elapsed = self.clock() - self._start
        share = f" ({100 * self.points / self.total:.0f}%)" if self.total else ""
        text = f"{self.name}: {self.points}/{self.total} points{share}, units {self.done_units}/{self.n_units}"
        text += f", {_clock_text(elapsed)} elapsed"
        gained = self.points - self._start_points
        if 0 < gained and self.points < self.total:
            text += f", about {_clock_text(elapsed / gained * (self.total - self.points))} left"
        return text

    def _write_line(self) -> None:
        self.stream.write(self.line() + "\n")
        self.stream.flush()
        self._last_line = self.clock()
