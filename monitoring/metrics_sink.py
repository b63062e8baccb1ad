"""The validation metrics of a run as files (on with ``--val_freq``): ``run_dir/metrics.json`` (every
validation, for tools and for ``--continue_train``) and ``run_dir/metrics.csv`` (the same as a table)."""
from __future__ import annotations

import argparse

from monitoring.base_sink import MetricReport, Sink, SinkContext
from util.fileio import atomic_write_text

METRICS_JSON = "metrics.json"
METRICS_CSV = "metrics.csv"


class MetricsSink(Sink):
    """Rewrites both files after each validation: they are small, and a crash never leaves half a file."""

    @classmethod
    def wanted(cls, opt: argparse.Namespace) -> bool:
        return opt.val_freq > 0

    def __init__(self, context: SinkContext) -> None:
        super().__init__(context)
        if context.opt.continue_train:
            context.metrics.load(context.run_dir / METRICS_JSON)

    def metrics(self, report: MetricReport) -> None:
        history = self.context.metrics
        atomic_write_text(self.context.run_dir / METRICS_JSON, history.to_json() + "\n")
        atomic_write_text(self.context.run_dir / METRICS_CSV, history.to_csv())
