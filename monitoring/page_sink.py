"""The training page (on unless ``--no_html``): ``run_dir/web/index.html`` with a summary of the run, the loss
curves, the validation metrics (one chart each), the fixed previews (one row per validation, newest first), the
visuals of every epoch that has some (newest first) and the options.

Compared with the reference: the page lists only epochs that have images, also shows the loss curves, the
options and the time per iteration, reloads itself while the run goes on, keeps its curve across
``--continue_train`` (the history is saved beside it), and says why a part is still empty.

Preview files: the inputs and targets (``real_*``), the same every time, are ``images/preview_{i}_{label}.png``;
the translations are ``images/preview_epoch{epoch}_{i}_{label}.png``.
"""
from __future__ import annotations

import argparse
import logging
import re
import time
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from monitoring.base_sink import LossReport, MetricReport, Sink, SinkContext
from monitoring.loss_plot import loss_curves_svg
from util.fileio import atomic_write_text, mkdirs
from util.html import HTML, fitting_width
from util.util import save_image

logger = logging.getLogger(__name__)

PAGE_REFRESH_SECONDS = 30          # the training page reloads itself this often while the run goes on
HISTORY_FILE = "loss_history.json"  # in web/: the loss curve data, so a resumed run keeps its curve
_EPOCH_IMAGE = re.compile(r"^epoch(\d+)_(.+)\.png$")
_PREVIEW_OUTPUT = re.compile(r"^preview_epoch(\d+)_(\d+)_(.+)\.png$")
_PREVIEW_INPUT = re.compile(r"^preview_(\d+)_(.+)\.png$")


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
        self._preview_labels: List[str] = []
        self._image_width = 0  # width of the visuals, for the size they are shown at
        logger.info("create web directory %s...", self.web_dir)
        mkdirs(self.web_dir, self.img_dir)
        if self.opt.continue_train:
            context.history.load(self.web_dir / HISTORY_FILE)

    def start_epoch(self, epoch: int, samples: int) -> None:
        self.status["epoch"] = epoch

    def end_epoch(self, epoch: int, seconds: float, lr: Optional[float]) -> None:
        if lr is not None:  # the rate after the epoch's step, as the log's "learning rate a -> b" line ends
            self.status["lr"] = lr
        self._write_page(final=False)

    def images(self, images: Mapping[str, np.ndarray], epoch: int, step: int, keep: bool) -> None:
        self.status["total_iters"] = step
        if not keep:
            return
        self._labels = list(images)
        self._image_width = next(iter(images.values())).shape[1]
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

    def previews(self, rows: Sequence[Mapping[str, np.ndarray]], epoch: int, step: int) -> None:
        self._preview_labels = list(rows[0])
        self._image_width = self._image_width or next(iter(rows[0].values())).shape[1]
        for index, row in enumerate(rows):
            for label, image in row.items():
                save_image(image, self.img_dir / self._preview_file(epoch, index, label))
        self._write_page(final=False)

    def metrics(self, report: MetricReport) -> None:
        self.status["validation"] = (f"epoch {report.epoch}, {report.images} images: " +
                                     ", ".join(f"{k} {v:.4g}" for k, v in report.values.items()) +
                                     f" (in {report.seconds:.2f} s, metrics {report.metric_seconds:.2f} s)")
        self._write_page(final=False)

    def close(self) -> None:
        self._write_page(final=True)

    @staticmethod
    def _preview_file(epoch: int, index: int, label: str) -> str:
        """Inputs and targets (``real_*``) are one file for every epoch; translations one per epoch."""
        return f"preview_{index}_{label}.png" if label.startswith("real") else \
            f"preview_epoch{epoch:03d}_{index}_{label}.png"

    def _preview_rows(self) -> Dict[int, List[Tuple[str, str]]]:
        """{epoch: [(file name, caption) of each cell of its row]} from the preview files in web/images."""
        outputs: Dict[int, set] = {}
        inputs: set = set()
        for path in self.img_dir.iterdir() if self.img_dir.is_dir() else ():
            output, given = _PREVIEW_OUTPUT.match(path.name), _PREVIEW_INPUT.match(path.name)
            if output:
                outputs.setdefault(int(output.group(1)), set()).add((int(output.group(2)), output.group(3)))
            elif given:
                inputs.add((int(given.group(1)), given.group(2)))
        found = inputs.union(*outputs.values())
        labels = self._preview_labels or sorted({label for _, label in found})
        count = 1 + max((i for i, _ in found), default=-1)
        return {epoch: [(self._preview_file(epoch, i, label), f"{i}: {label}") for i in range(count)
                        for label in labels if (i, label) in cells or (i, label) in inputs]
                for epoch, cells in outputs.items()}

    def _empty_notes(self, page: HTML, what: str) -> None:
        """Say why a part of the page is still empty (or holds one point), naming the flag that decides when it
        fills."""
        opt = self.opt
        notes = {
            "losses": f"No loss point yet: the first is drawn after the first iteration, then one every "
                      f"--print_freq {opt.print_freq} samples.",
            "one_loss": f"One loss point so far, drawn after the first iteration: the next comes after "
                        f"--print_freq {opt.print_freq} samples.",
            "images": f"No training images yet: they are kept every --update_html_freq {opt.update_html_freq} "
                      f"samples (and the first shown in each epoch, every --display_freq {opt.display_freq}).",
            "previews": f"No previews or validation metrics yet: the first validation runs after epoch "
                        f"{opt.val_freq} (--val_freq).",
            "no_validation": "Fixed previews and validation metrics are off: --val_freq N turns them on.",
        }
        page.add_text(notes[what], cls="note")

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
        if "validation" in s:
            items["validation"] = s["validation"]
        items["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
        return items

    def _write_page(self, final: bool) -> None:
        """Rebuild web/index.html: summary, loss curves, epochs with images (newest first), options."""
        name = self.opt.name
        history = self.context.history
        page = HTML(self.web_dir, f"Experiment name = {name}", refresh=0 if final else PAGE_REFRESH_SECONDS)
        page.set_summary(self._summary(final))
        width = fitting_width(self._image_width, self.opt.display_winsize) if self._image_width \
            else self.opt.display_winsize
        page.add_header("Losses")
        if history.xs:
            page.add_svg(loss_curves_svg(history.xs, history.ys, history.legend, title=f"{name} loss over time"))
            atomic_write_text(self.web_dir / HISTORY_FILE, history.to_json())
            if len(history.xs) == 1:
                self._empty_notes(page, "one_loss")
        else:
            self._empty_notes(page, "losses")
        previews = self._preview_rows()
        metrics = self.context.metrics
        if self.opt.val_freq > 0:
            page.add_header("Validation")
            if metrics.records:
                charts = []
                for metric in metrics.names():
                    epochs, values = metrics.series(metric)
                    charts.append(loss_curves_svg(epochs, [[v] for v in values], [metric], title=metric, width=340,
                                                  height=220, x_label="epoch", y_label=metric, legend=False,
                                                  x_min_step=1.0))
                page.add_svg("".join(f'<div class="metric-plot" data-metric="{metric}">{chart}</div>'
                                     for metric, chart in zip(metrics.names(), charts)), cls="plot metric-plots")
            if not previews and not metrics.records:
                self._empty_notes(page, "previews")
        else:
            self._empty_notes(page, "no_validation")
        for epoch in sorted(previews, reverse=True):
            page.add_text(f"previews after epoch {epoch}")
            files, captions = zip(*previews[epoch])
            page.add_images(files, captions, files, width=width)
        page.add_header("Training images")
        epochs = self._epoch_images()
        if not epochs:
            self._empty_notes(page, "images")
        for epoch in sorted(epochs, reverse=True):
            page.add_header(f"epoch [{epoch}]")
            files = [f"epoch{epoch:03d}_{label}.png" for label in epochs[epoch]]
            page.add_images(files, epochs[epoch], files, width=width)
        page.add_header("Options")
        page.add_table(((key, value) for key, value in sorted(vars(self.opt).items())), header=("option", "value"))
        page.save()
