"""Per-epoch progress: a tqdm bar on an interactive terminal, plain periodic log lines otherwise (CI, log files)."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Mapping, Optional, TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

logger = logging.getLogger(__name__)

PLAIN_INTERVAL_SECONDS = 60.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _size_options(stream: TextIO) -> dict:
    """Follow the terminal's size, or assume 100 x 24 where it reports none (a pseudo-terminal without size)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        size = os.terminal_size((0, 0))
    return {"dynamic_ncols": True} if size.columns > 0 and size.lines > 0 else {"ncols": 100, "nrows": 24}


class EpochProgress:
    """Shows how far the current epoch is: samples done, rate, ETA and the latest losses.

    ``interactive`` defaults to whether ``stream`` (stdout, where the log goes) is a terminal. While a bar is
    open, log records are routed above it so they do not break it.
    """

    def __init__(self, interactive: Optional[bool] = None, stream: Optional[TextIO] = None,
                 plain_interval: float = PLAIN_INTERVAL_SECONDS) -> None:
        self.stream = stream if stream is not None else sys.stdout
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.plain_interval = plain_interval
        self._bar: Optional[tqdm] = None
        self._redirect = contextlib.ExitStack()
        self._label = ""
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._last_line = 0.0
        self._losses: Mapping[str, float] = {}

    def start(self, epoch: int, total_epochs: int, samples: int) -> None:
        self.close()
        self._label = f"epoch {epoch}/{total_epochs}"
        self._total, self._done = max(samples, 0), 0
        self._started = self._last_line = time.monotonic()
        self._losses = {}
        if self.interactive:
            self._redirect.enter_context(logging_redirect_tqdm())
            self._bar = tqdm(total=self._total, desc=self._label, unit="img", file=self.stream, leave=True,
                             **_size_options(self.stream))

    def advance(self, n: int) -> None:
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._total and time.monotonic() - self._last_line >= self.plain_interval:
            self._last_line = time.monotonic()
            logger.info(self.status_line())

    def set_losses(self, losses: Mapping[str, float]) -> None:
        self._losses = dict(losses)
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.3f}" for k, v in self._losses.items()}, refresh=True)

    def status_line(self) -> str:
        """``epoch 3/10: 400/1000 img (40%), 12.3 img/s, ETA 0:00:49`` for plain output."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self._done / elapsed
        line = f"{self._label}: {self._done}/{self._total} img ({100.0 * self._done / max(self._total, 1):.0f}%)"
        if self._done:
            line += f", {rate:.3g} img/s, ETA {_duration(max(self._total - self._done, 0) / rate)}"
        return line

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._redirect.close()
