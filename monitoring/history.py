"""The curves' data: every plotted loss vector and every validation's metrics, kept in files so that a resumed
run keeps its curves."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

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


class MetricHistory:
    """Every validation: ``{"epoch", "step", "images", "seconds", "metric_seconds", "values": {name: value}}`` in
    epoch order."""

    def __init__(self) -> None:
        self.records: List[Dict[str, Any]] = []

    def add(self, epoch: int, step: int, images: int, seconds: float, metric_seconds: float,
            values: Mapping[str, float]) -> None:
        while self.records and self.records[-1]["epoch"] >= epoch:  # from an earlier run beyond where this resumed
            self.records.pop()
        self.records.append({"epoch": int(epoch), "step": int(step), "images": int(images),
                             "seconds": float(seconds), "metric_seconds": float(metric_seconds),
                             "values": {k: float(v) for k, v in values.items()}})

    def names(self) -> List[str]:
        """The metric names in the order they first appear."""
        names: Dict[str, None] = {}
        for record in self.records:
            names.update(dict.fromkeys(record["values"]))
        return list(names)

    def series(self, name: str) -> Tuple[List[float], List[float]]:
        """(epochs, values) of one metric; NaN where a validation did not measure it."""
        return ([float(r["epoch"]) for r in self.records],
                [r["values"].get(name, math.nan) for r in self.records])

    def to_json(self) -> str:
        """JSON with non-finite values (PSNR of identical images is inf) written as null."""
        def finite(value: float) -> Any:
            return value if math.isfinite(value) else None

        return json.dumps({"records": [dict(r, values={k: finite(v) for k, v in r["values"].items()})
                                       for r in self.records]}, indent=1)

    def to_csv(self) -> str:
        """One row per validation: epoch, step, images, seconds, metric_seconds, then each metric."""
        names = self.names()
        lines = [",".join(["epoch", "step", "images", "seconds", "metric_seconds"] + names)]
        for r in self.records:
            cells = [str(r["epoch"]), str(r["step"]), str(r["images"]), "%.3f" % r["seconds"],
                     "%.3f" % r["metric_seconds"]]
            cells += ["%.6g" % r["values"][n] if n in r["values"] else "" for n in names]
            lines.append(",".join(cells))
        return "\n".join(lines) + "\n"

    def load(self, path: Path) -> None:
        """Take the records an earlier run saved; keep these when there are none (or they are unreadable)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            records = [{"epoch": int(r["epoch"]), "step": int(r["step"]), "images": int(r["images"]),
                        "seconds": float(r["seconds"]),
                        "metric_seconds": float(r.get("metric_seconds", 0.0)),  # not in older files
                        "values": {str(k): math.nan if v is None else float(v) for k, v in r["values"].items()}}
                       for r in data["records"]]
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            logger.warning("ignoring the unreadable metrics file %s (%s)", path, err)
            return
        self.records = records
