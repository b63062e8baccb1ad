"""Watching a run: ``Visualizer`` is what train.py talks to; ``save_images`` fills the test results page.

The Visualizer keeps the reference's methods and hands each call, as one event, to the sinks of the monitoring
package that the options ask for (loss_log.txt, the terminal, the training page, Visdom, TensorBoard, W&B);
it knows none of them by name. Only the main process of a distributed run shows or writes anything
(``util.fileio.is_main_process``); other ranks get a Visualizer without sinks.
"""
from __future__ import annotations

import argparse
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Union

from monitoring import Sink, SinkContext, build_sinks
from monitoring.base_sink import LossReport, MetricReport
from monitoring.history import LossHistory, MetricHistory
from util.fileio import is_main_process
from util.html import HTML, fitting_width
from util.util import save_image, tensor2im, tensor2ims

logger = logging.getLogger(__name__)


def save_images(webpage: HTML, visuals: Mapping[str, Any], image_path: Union[str, Sequence[str]],
                aspect_ratio: float = 1.0, width: int = 256) -> None:
    """Save every image of the batch as ``images/{stem}_{label}.png`` and add one titled row per input image."""
    paths = [image_path] if isinstance(image_path, str) else list(image_path)
    image_dir = Path(webpage.get_image_dir())
    per_label = OrderedDict((label, tensor2ims(value)) for label, value in visuals.items())
    for index, path in enumerate(paths):
        stem = Path(path).stem
        webpage.add_header(stem)
        ims: List[str] = []
        txts: List[str] = []
        for label, images in per_label.items():
            if index < len(images):
                ims.append(f"{stem}_{label}.png")
                txts.append(label)
                save_image(images[index], image_dir / ims[-1], aspect_ratio=aspect_ratio)
        shown = fitting_width(round(next(iter(per_label.values()))[0].shape[1] * max(aspect_ratio, 1.0)), width)
        webpage.add_images(ims, txts, ims, width=shown)


class Visualizer:
    """Shows and records a training run; train.py calls it at the reference's points of the loop.

    ``interactive`` (whether the terminal gets a progress bar; default: whether stdout is a terminal) and
    ``retry_seconds`` (how often a lost server is tried again) are there for tests and embedding.
    """

    def __init__(self, opt: argparse.Namespace, interactive: Optional[bool] = None,
                 retry_seconds: Optional[float] = None) -> None:
        self.history = LossHistory()
        self.metrics = MetricHistory()
        self.sinks: List[Sink] = []
        self._kept_this_epoch = False
        self._closed = False
        self._graph_added = False
        if is_main_process():
            self.sinks = build_sinks(SinkContext(opt, Path(opt.checkpoints_dir) / opt.name,
                                                 opt.n_epochs + opt.n_epochs_decay, self.history, interactive,
                                                 retry_seconds, self.metrics))

    # ------------------------------------------------------------------ epoch structure
    def reset(self) -> None:
        """Start of an epoch: its first display is kept on the page whatever ``--update_html_freq`` says."""
        self._kept_this_epoch = False

    def start_epoch(self, epoch: int, epoch_samples: int) -> None:
        for sink in self.sinks:
            sink.start_epoch(epoch, epoch_samples)

    def advance(self, n_samples: int) -> None:
        for sink in self.sinks:
            sink.advance(n_samples)

    def end_epoch(self, epoch: int, seconds: float, lr: Optional[float] = None) -> None:
        """The epoch is done; ``lr``: the learning rate after the scheduler's step (the next epoch's)."""
        for sink in self.sinks:
            sink.end_epoch(epoch, seconds, lr)

    def close(self) -> None:
        """The last page (without auto-refresh), TensorBoard / W&B flushed. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for sink in self.sinks:
            sink.close()

    # ------------------------------------------------------------------ images
    def display_current_results(self, visuals: Mapping[str, Any], epoch: int, save_result: bool,
                                total_iters: int = 0) -> None:
        """Show the visuals (first item of the batch); keep them on the page when ``save_result`` or when none
        has been kept yet this epoch."""
        if not self.sinks or not visuals:
            return
        images = OrderedDict((label, tensor2im(value)) for label, value in visuals.items())
        keep = save_result or not self._kept_this_epoch
        self._kept_this_epoch = True
        for sink in self.sinks:
            sink.images(images, epoch, total_iters, keep)

    # ------------------------------------------------------------------ losses and scalars
    def plot_current_losses(self, epoch: int, counter_ratio: float, losses: Mapping[str, float],
                            total_iters: int = 0) -> None:
        """Add a point to the loss curves at x = epochs done: ``epoch - 1 + counter_ratio`` (epochs count from 1,
        so a 5-epoch run ends at 5, not 6)."""
        if not self.sinks:
            return
        x = epoch - 1 + counter_ratio
        self.history.add(x, losses)
        for sink in self.sinks:
            sink.losses(x, losses, total_iters)

    def print_current_losses(self, epoch: int, iters: int, losses: Mapping[str, float], t_comp: float,
                             t_data: float) -> None:
        """The reference's loss line: appended to loss_log.txt, shown on the bar or logged."""
        report = LossReport(epoch, iters, dict(losses), t_comp, t_data)
        for sink in self.sinks:
            sink.report(report)

    def add_graph(self, model: Any) -> None:
        """The model's generator with its current input (``model.graph_input()``), handed to the sinks on the
        first call of the run; later calls do nothing, so train.py may call it every iteration."""
        if self._graph_added:
            return
        self._graph_added = True
        wanted = [sink for sink in self.sinks if type(sink).graph is not Sink.graph]  # only TensorBoard draws it
        if not wanted:
            return
        net, example = model.graph_input()
        if example is None:  # the model sets its first visual in forward(), not in set_input()
            logger.warning("no model graph: %s has no input before its forward pass", type(model).__name__)
            return
        for sink in wanted:
            sink.graph(net, example)

    def log_scalars(self, scalars: Mapping[str, float], total_iters: int) -> None:
        """Other numbers of the run (learning rate, time per iteration)."""
        for sink in self.sinks:
            sink.scalars(scalars, total_iters)

    # ------------------------------------------------------------------ validation
    def display_previews(self, rows: Sequence[Mapping[str, Any]], epoch: int, total_iters: int) -> None:
        """The fixed preview images after ``epoch``: one mapping (label: image tensor) per preview image."""
        if not self.sinks or not rows:
            return
        images = [OrderedDict((label, tensor2im(value)) for label, value in row.items()) for row in rows]
        for sink in self.sinks:
            sink.previews(images, epoch, total_iters)

    def log_metrics(self, epoch: int, values: Mapping[str, float], images: int, seconds: float,
                    metric_seconds: float, total_iters: int) -> None:
        """Validation metrics measured after ``epoch`` on ``images`` images; the validation took ``seconds``, of
        which the metrics ``metric_seconds`` (the rest is translating)."""
        if not self.sinks:
            return
        self.metrics.add(epoch, total_iters, images, seconds, metric_seconds, values)
        report = MetricReport(epoch, total_iters, images, seconds, metric_seconds, dict(values))
        for sink in self.sinks:
            sink.metrics(report)
