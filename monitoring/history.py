"""The loss curves' data: every plotted loss vector, kept in a file so that a resumed run keeps its curve."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import List, Mapping

logger = logging.getLogger(__name__)


class LossHistory:
    """Every plotted loss vector with its x = epoch + fraction of the epoch; the legend is fixed by the first."""

    def __init__(self) -> None:
        self.legend: List[str] = []
        self.xs: List[float] = []
        self.ys: List[List[float]] = []

    def add(self, x: float, losses: Mapping[str, float]) -> None:
        if not self.legend:
            self.legend = list(losses)
        while self.xs and self.xs[-1] >= x:  # points from an earlier run beyond where this one resumed
            self.xs.pop()
            self.ys.pop()
        self.xs.append(float(x))
        self.ys.append([float(losses.get(name, math.nan)) for name in self.legend])

    def to_json(self) -> str:
        return json.dumps({"legend": self.legend, "X": self.xs, "Y": self.ys})

    def load(self, path: Path) -> None:
        """Take the history an earlier run saved; keep this one when there is none (or it is unreadable)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            legend = [str(name) for name in data["legend"]]
            xs = [float(x) for x in data["X"]]
            ys = [[float(v) for v in y] for y in data["Y"]]
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError) as err:
            logger.warning("ignoring the unreadable loss history %s (%s)", path, err)
            return
        if len(xs) == len(ys) and all(len(y) == len(legend) for y in ys):
            self.legend, self.xs, self.ys = legend, xs, ys
