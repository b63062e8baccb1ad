"""Visdom (``--display_id N`` > 0): the loss curves in window N, the visuals in N+1 (their labels in N+2), the
previews in ``N_previews`` and the validation metrics in ``N_metrics``.

A missing visdom package or server is a warning, not an error: training goes on without the display.
"""
from __future__ import annotations

import argparse
import logging
from typing import Mapping, Sequence

import numpy as np

from monitoring.base_sink import MetricReport, Sink, SinkContext

logger = logging.getLogger(__name__)


class VisdomSink(Sink):
    """Shows the run on a Visdom server; see monitoring/visdom_display.py for the connection handling."""

    @classmethod
    def wanted(cls, opt: argparse.Namespace) -> bool:
        return opt.display_id > 0

    def __init__(self, context: SinkContext) -> None:
        super().__init__(context)
        try:
            from monitoring.visdom_display import RETRY_SECONDS, VisdomDisplay
        except ImportError as err:
            logger.warning("Visdom display is off: the visdom package cannot be imported (%s). Install it with "
                           "`pip install visdom`, or pass --display_id 0 to silence this.", err)
            self.display = None
            return
        opt = context.opt
        retry = RETRY_SECONDS if context.retry_seconds is None else context.retry_seconds
        self.display = VisdomDisplay(opt.name, opt.display_id, opt.display_server, opt.display_port, opt.display_env,
                                     opt.display_ncols, retry_seconds=retry)

    def images(self, images: Mapping[str, np.ndarray], epoch: int, step: int, keep: bool) -> None:
        if self.display is not None:
            self.display.show_images(images)

    def losses(self, x: float, losses: Mapping[str, float], step: int) -> None:
        """The whole history each time, so that a server that comes back gets the curve from the start."""
        if self.display is not None:
            history = self.context.history
            self.display.plot_losses(history.xs, history.ys, history.legend)

    def previews(self, rows: Sequence[Mapping[str, np.ndarray]], epoch: int, step: int) -> None:
        if self.display is not None:
            self.display.show_previews(rows, epoch)

    def metrics(self, report: MetricReport) -> None:
        """The whole history each time, as with the losses."""
        if self.display is not None:
            self.display.plot_metrics(self.context.metrics)
