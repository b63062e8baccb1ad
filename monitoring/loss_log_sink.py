"""loss_log.txt in the run folder: a header per run, then the reference's line for every logged iteration and a
line for every validation."""
from __future__ import annotations

import argparse
import time

from monitoring.base_sink import LossReport, MetricReport, Sink, SinkContext
from util.fileio import append_text

LOG_NAME = "loss_log.txt"


class LossLogSink(Sink):
    """Always on: the log is what users grep and what the reference's tools read."""

    @classmethod
    def wanted(cls, opt: argparse.Namespace) -> bool:
        return True

    def __init__(self, context: SinkContext) -> None:
        super().__init__(context)
        self.path = context.run_dir / LOG_NAME
        append_text(self.path, "================ Training Loss (%s) ================\n" % time.strftime("%c"))

    def report(self, report: LossReport) -> None:
        append_text(self.path, report.line() + "\n")

    def metrics(self, report: MetricReport) -> None:
        append_text(self.path, report.line() + "\n")
