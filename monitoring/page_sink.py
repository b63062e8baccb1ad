"""The training page (on unless ``--no_html``): ``run_dir/web/index.html`` with a summary of the run, the loss
curves, the visuals of every epoch that has some (newest first) and the options.

Compared with the reference: the page lists only epochs that have images, also shows the loss curves, the
options and the time per iteration, reloads itself while the run goes on, and keeps its curve across
``--continue_train`` (the history is saved beside it).
"""
from __future__ import annotations

import argparse
import logging
import re
import time
from collections import OrderedDict
from typing import Any, Dict, List, Mapping

import numpy as np

from monitoring.base_sink import LossReport, Sink, SinkContext
from monitoring.loss_plot import loss_curves_svg
from util.fileio import atomic_write_text, mkdirs
from util.html import HTML
from util.util import save_image

logger = logging.getLogger(__name__)

PAGE_REFRESH_SECONDS = 30          # the training page reloads itself this often while the run goes on
HISTORY_FILE = "loss_history.json"  # in web/: the loss curve data, so a resumed run keeps its curve
_EPOCH_IMAGE = re.compile(r"^epoch(\d+)_(.+)\.png$")


class PageSink(Sink):
    """Writes the page at each kept set of visuals, at the end of each epoch and, without auto-refresh, at the end."""

    @classmethod
    def wanted(cls, opt: argparse.Namespace) -> bool:
        return not opt.no_html

    def __init__(self, context: SinkContext) -> None:
        super().__init__(context)
        self.opt = context.opt
        self.web_dir = context.run_dir / "web"
        self.img_dir = self.web_dir / "images"
        self.status: Dict[str, Any] = {}
        self.iter_times: List[float] = []
        self._labels: List[str] = []
        logger.info("create web directory %s...", self.web_dir)
        mkdirs(self.web_dir, self.img_dir)
        if self.opt.continue_train:
            context.history.load(self.web_dir / HISTORY_FILE)

    def start_epoch(self, epoch: int, samples: int) -> None:
        self.status["epoch"] = epoch

    def end_epoch(self, epoch: int, seconds: float) -> None:
        self._write_page(final=False)

    def images(self, images: Mapping[str, np.ndarray], epoch: int, step: int, keep: bool) -> None:
        self.status["total_iters"] = step
        if not keep:
            return
        self._labels = list(images)
        for label, image in images.items():
            save_image(image, self.img_dir / f"epoch{epoch:03d}_{label}.png")
        self._write_page(final=False)

    def report(self, report: LossReport) -> None:
        self.status.update(epoch=report.epoch, epoch_iter=report.iters, t_comp=report.t_comp, t_data=report.t_data,
                           losses=dict(report.losses))

    def scalars(self, scalars: Mapping[str, float], step: int) -> None:
        self.status.update(scalars)
        self.status["total_iters"] = step
        if "time_per_iter" in scalars:
            self.iter_times.append(float(scalars["time_per_iter"]))

    def close(self) -> None:
        self._write_page(final=True)

    def _epoch_images(self) -> Dict[int, List[str]]:
        """{epoch: [labels]} of the images in web/images, labels in the order of the current visuals."""
        found: Dict[int, List[str]] = {}
        for path in self.img_dir.iterdir() if self.img_dir.is_dir() else ():
            match = _EPOCH_IMAGE.match(path.name)
            if match:
                found.setdefault(int(match.group(1)), []).append(match.group(2))
        order = {label: i for i, label in enumerate(self._labels)}
        return {epoch: sorted(labels, key=lambda lb: (order.get(lb, len(order)), lb))
                for epoch, labels in found.items()}

    def _summary(self, final: bool) -> "OrderedDict[str, str]":
        s = self.status
        total_epochs = self.context.total_epochs
        items: "OrderedDict[str, str]" = OrderedDict()
        items["status"] = "finished" if final else f"training (this page reloads every {PAGE_REFRESH_SECONDS} s)"
        if "epoch" in s:
            items["epoch"] = f"{s['epoch']} / {total_epochs}" if total_epochs else str(s["epoch"])
        if "total_iters" in s:
            items["total iterations (samples)"] = str(s["total_iters"])
        latest = s.get("time_per_iter", s.get("t_comp"))
        if latest is not None:
            times = self.iter_times or [latest]
            items["time per iteration"] = (f"{latest:.4f} s per sample (mean {sum(times) / len(times):.4f} s "
                                           f"over {len(times)} measurements)")
        if "t_data" in s:
            items["data loading time"] = f"{s['t_data']:.4f} s"
        if "lr" in s:
            items["learning rate"] = f"{s['lr']:.6g}"
        if s.get("losses"):
            items["latest losses"] = "  ".join(f"{k}: {v:.3f}" for k, v in s["losses"].items())
        items["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
        return items

    def _write_page(self, final: bool) -> None:
        """Rebuild web/index.html: summary, loss curves, epochs with images (newest first), options."""
        name = self.opt.name
        history = self.context.history
        page = HTML(self.web_dir, f"Experiment name = {name}", refresh=0 if final else PAGE_REFRESH_SECONDS)
        page.set_summary(self._summary(final))
        if history.xs:
            page.add_header("Losses")
            page.add_svg(loss_curves_svg(history.xs, history.ys, history.legend, title=f"{name} loss over time"))
            atomic_write_text(self.web_dir / HISTORY_FILE, history.to_json())
        epochs = self._epoch_images()
        for epoch in sorted(epochs, reverse=True):
            page.add_header(f"epoch [{epoch}]")
            files = [f"epoch{epoch:03d}_{label}.png" for label in epochs[epoch]]
            page.add_images(files, epochs[epoch], files, width=self.opt.display_winsize)
        page.add_header("Options")
        page.add_table(((key, value) for key, value in sorted(vars(self.opt).items())), header=("option", "value"))
        page.save()
