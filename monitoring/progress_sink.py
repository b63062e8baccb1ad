"""The terminal: a progress bar per epoch with the latest losses, or the loss lines and periodic status lines
when stdout is not a terminal (CI, a log file)."""
from __future__ import annotations

import argparse
import logging
from typing import Optional

from monitoring.base_sink import LossReport, MetricReport, Sink, SinkContext
from monitoring.progress import EpochProgress

logger = logging.getLogger(__name__)


class ProgressSink(Sink):
    """Always on: what a user running train.py sees."""

    @classmethod
    def wanted(cls, opt: argparse.Namespace) -> bool:
        return True

    def __init__(self, context: SinkContext) -> None:
        super().__init__(context)
        self.progress = EpochProgress(context.interactive)

    def start_epoch(self, epoch: int, samples: int) -> None:
        self.progress.start(epoch, self.context.total_epochs, samples)

    def advance(self, samples: int) -> None:
        self.progress.advance(samples)

    def end_epoch(self, epoch: int, seconds: float, lr: Optional[float]) -> None:
        self.progress.close()
        logger.info("End of epoch %d / %d \t Time Taken: %d sec", epoch, self.context.total_epochs, int(seconds))

    def report(self, report: LossReport) -> None:
        """On a terminal the losses go to the bar; otherwise the loss line is logged."""
        if self.progress.interactive:
            self.progress.set_losses(report.losses)
        else:
            logger.info(report.line())

    def metrics(self, report: MetricReport) -> None:
        logger.info(report.line())

    def close(self) -> None:
        self.progress.close()
