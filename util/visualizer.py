"""Watching a run: Visdom windows, the training page, loss_log.txt, TensorBoard / W&B, and the progress bar.

``Visualizer`` is what train.py talks to; ``save_images`` fills the test results page. Only the main process
of a distributed run shows or writes anything (``util.fileio.is_main_process``); other ranks get a Visualizer
whose methods do nothing.

Compared with the reference: an absent Visdom server gives one warning instead of an attempt to start one,
the page lists only epochs that have images and also shows the loss curves, the options and the time per
iteration, losses reach TensorBoard / W&B whatever ``--display_id`` is, and the loss history survives
``--continue_train``.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import re
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from util.errors import UserError
from util.fileio import append_text, atomic_write_text, is_main_process, mkdirs
from util.html import HTML
from util.loss_plot import loss_curves_svg
from util.progress import EpochProgress
from util.util import same_size, save_image, tensor2im, tensor2ims

logger = logging.getLogger(__name__)

PAGE_REFRESH_SECONDS = 30          # the training page reloads itself this often while the run goes on
HISTORY_FILE = "loss_history.json"  # in web/: the loss curve data, so a resumed run keeps its curve
_EPOCH_IMAGE = re.compile(r"^epoch(\d+)_(.+)\.png$")


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
        webpage.add_images(ims, txts, ims, width=width)


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

    @classmethod
    def load(cls, path: Path) -> "LossHistory":
        """The history saved by an earlier run, or an empty one when there is none (or it is unreadable)."""
        history = cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            legend = [str(name) for name in data["legend"]]
            xs = [float(x) for x in data["X"]]
            ys = [[float(v) for v in y] for y in data["Y"]]
        except FileNotFoundError:
            return history
        except (ValueError, KeyError, TypeError) as err:
            logger.warning("ignoring the unreadable loss history %s (%s)", path, err)
            return history
        if len(xs) == len(ys) and all(len(y) == len(legend) for y in ys):
            history.legend, history.xs, history.ys = legend, xs, ys
        return history


def _open_tensorboard(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise UserError("--use_tensorboard needs the tensorboard package: pip install tensorboard") from err
    return SummaryWriter(log_dir=str(log_dir))


def _open_wandb(opt: argparse.Namespace, expr_dir: Path) -> Any:
    """(wandb module, run, whether this Visualizer started the run); an existing run is reused."""
    try:
        import wandb
    except ImportError as err:
        raise UserError("--use_wandb needs the wandb package: pip install wandb") from err
    if wandb.run is not None:
        return wandb, wandb.run, False
    config = {key: value if isinstance(value, (bool, int, float, str, type(None), list, tuple)) else str(value)
              for key, value in vars(opt).items()}
    try:
        run = wandb.init(project=getattr(opt, "wandb_project_name", "CycleGAN-and-pix2pix"), name=opt.name,
                         config=config, dir=str(expr_dir))
    except wandb.errors.Error as err:
        raise UserError(f"--use_wandb: could not start Weights & Biases ({err}); log in with `wandb login`, "
                        "or set WANDB_MODE=offline to log to local files") from err
    return wandb, run, True


class Visualizer:
    """Shows and records a training run; train.py calls it at the reference's points of the loop."""

    def __init__(self, opt: argparse.Namespace, interactive: Optional[bool] = None,
                 visdom_retry_seconds: Optional[float] = None) -> None:
        self.opt = opt
        self.enabled = is_main_process()
        self.name: str = opt.name
        self.display_id: int = getattr(opt, "display_id", 0)
        self.win_size: int = getattr(opt, "display_winsize", 256)
        self.use_html = bool(getattr(opt, "isTrain", True) and not getattr(opt, "no_html", False))
        self.total_epochs: int = getattr(opt, "n_epochs", 0) + getattr(opt, "n_epochs_decay", 0)
        self.expr_dir = Path(opt.checkpoints_dir) / opt.name
        self.web_dir = self.expr_dir / "web"
        self.img_dir = self.web_dir / "images"
        self.log_name = self.expr_dir / "loss_log.txt"
        self.saved = False
        self.history = LossHistory()
        self.status: Dict[str, Any] = {}
        self.iter_times: List[float] = []
        self._labels: List[str] = []
        self._visdom: Any = None
        self._tensorboard: Any = None
        self._wandb: Any = None
        self._wandb_run: Any = None
        self._own_wandb_run = False
        self._closed = False
        self.progress = EpochProgress(interactive)
        if not self.enabled:
            return
        # the optional packages are checked first: asking for a missing one stops before anything is written
        if getattr(opt, "use_tensorboard", False):
            self._tensorboard = _open_tensorboard(self.expr_dir / "tensorboard")
        if getattr(opt, "use_wandb", False):
            self._wandb, self._wandb_run, self._own_wandb_run = _open_wandb(opt, self.expr_dir)
        if self.display_id > 0:
            self._visdom = self._open_visdom(visdom_retry_seconds)
        if self.use_html:
            logger.info("create web directory %s...", self.web_dir)
            mkdirs(self.web_dir, self.img_dir)
            if getattr(opt, "continue_train", False):
                self.history = LossHistory.load(self.web_dir / HISTORY_FILE)
        append_text(self.log_name, "================ Training Loss (%s) ================\n" % time.strftime("%c"))

    def _open_visdom(self, retry_seconds: Optional[float]) -> Any:
        try:
            from util.visdom_display import RETRY_SECONDS, VisdomDisplay
        except ImportError as err:
            logger.warning("Visdom display is off: the visdom package cannot be imported (%s). Install it with "
                           "`pip install visdom`, or pass --display_id 0 to silence this.", err)
            return None
        opt = self.opt
        return VisdomDisplay(self.name, self.display_id, getattr(opt, "display_server", "http://localhost"),
                             getattr(opt, "display_port", 8097), getattr(opt, "display_env", "main"),
                             getattr(opt, "display_ncols", 4),
                             retry_seconds=RETRY_SECONDS if retry_seconds is None else retry_seconds)

    # ------------------------------------------------------------------ epoch structure
    def reset(self) -> None:
        """Start of an epoch: its first display is saved to the page whatever ``--update_html_freq`` says."""
        self.saved = False

    def start_epoch(self, epoch: int, epoch_samples: int) -> None:
        if not self.enabled:
            return
        self.status["epoch"] = epoch
        self.progress.start(epoch, self.total_epochs, epoch_samples)

    def advance(self, n_samples: int) -> None:
        if self.enabled:
            self.progress.advance(n_samples)

    def end_epoch(self, epoch: int, seconds: float) -> None:
        if not self.enabled:
            return
        self.progress.close()
        logger.info("End of epoch %d / %d \t Time Taken: %d sec", epoch, self.total_epochs, int(seconds))
        if self.use_html:
            self._write_page(final=False)

    def close(self) -> None:
        """Last page (without auto-refresh), and flush TensorBoard / W&B. Safe to call twice."""
        if not self.enabled or self._closed:
            return
        self._closed = True
        self.progress.close()
        if self.use_html:
            self._write_page(final=True)
        if self._tensorboard is not None:
            self._tensorboard.close()
        if self._wandb_run is not None and self._own_wandb_run:
            self._wandb_run.finish()

    # ------------------------------------------------------------------ images
    def display_current_results(self, visuals: Mapping[str, Any], epoch: int, save_result: bool,
                                total_iters: int = 0) -> None:
        """Show the visuals (first item of the batch) on Visdom, TensorBoard and W&B; save them to the page
        when ``save_result`` or when nothing has been saved yet this epoch."""
        if not self.enabled or not visuals:
            return
        images = OrderedDict((label, tensor2im(value)) for label, value in visuals.items())
        self.status["total_iters"] = total_iters
        if self._visdom is not None:
            self._visdom.show_images(images)
        if self.use_html and (save_result or not self.saved):
            self.saved = True
            self._labels = list(images)
            for label, image in images.items():
                save_image(image, self.img_dir / f"epoch{epoch:03d}_{label}.png")
            self._write_page(final=False)
        if self._tensorboard is not None:
            ncols = getattr(self.opt, "display_ncols", 4)
            self._tensorboard.add_image("visuals", _grid(list(images.values()), ncols),
                                        total_iters, dataformats="HWC")
        if self._wandb_run is not None:
            self._wandb_run.log({f"results/{label}": self._wandb.Image(image, caption=f"{label} - Step {total_iters}")
                                 for label, image in images.items()}, step=total_iters)

    # ------------------------------------------------------------------ losses and scalars
    def plot_current_losses(self, epoch: int, counter_ratio: float, losses: Mapping[str, float],
                            total_iters: int = 0) -> None:
        """Add a point (x = epoch + counter_ratio) to the loss curves: Visdom, the page, TensorBoard, W&B."""
        if not self.enabled:
            return
        self.history.add(epoch + counter_ratio, losses)
        if self._visdom is not None:
            self._visdom.plot_losses(self.history.xs, self.history.ys, self.history.legend)
        if self._tensorboard is not None:
            for name, value in losses.items():
                self._tensorboard.add_scalar(f"loss/{name}", value, total_iters)
        if self._wandb_run is not None:
            self._wandb_run.log({f"loss/{name}": value for name, value in losses.items()}, step=total_iters)

    def print_current_losses(self, epoch: int, iters: int, losses: Mapping[str, float], t_comp: float,
                             t_data: float) -> None:
        """Append the reference's line to loss_log.txt; show the losses on the bar, or log the line."""
        if not self.enabled:
            return
        message = "(epoch: %d, iters: %d, time: %.3f, data: %.3f) " % (epoch, iters, t_comp, t_data)
        message += "".join("%s: %.3f " % (name, value) for name, value in losses.items())
        append_text(self.log_name, message + "\n")
        self.status.update(epoch=epoch, epoch_iter=iters, t_comp=t_comp, t_data=t_data, losses=dict(losses))
        if self.progress.interactive:
            self.progress.set_losses(losses)
        else:
            logger.info(message)

    def log_scalars(self, scalars: Mapping[str, float], total_iters: int) -> None:
        """Other numbers of the run (learning rate, time per iteration) for TensorBoard, W&B and the page."""
        if not self.enabled:
            return
        self.status.update(scalars)
        self.status["total_iters"] = total_iters
        if "time_per_iter" in scalars:
            self.iter_times.append(float(scalars["time_per_iter"]))
        if self._tensorboard is not None:
            for name, value in scalars.items():
                self._tensorboard.add_scalar(name, value, total_iters)
        if self._wandb_run is not None:
            self._wandb_run.log(dict(scalars), step=total_iters)

    # ------------------------------------------------------------------ the training page
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
        items: "OrderedDict[str, str]" = OrderedDict()
        items["status"] = "finished" if final else f"training (this page reloads every {PAGE_REFRESH_SECONDS} s)"
        if "epoch" in s:
            items["epoch"] = f"{s['epoch']} / {self.total_epochs}" if self.total_epochs else str(s["epoch"])
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
        page = HTML(self.web_dir, f"Experiment name = {self.name}", refresh=0 if final else PAGE_REFRESH_SECONDS)
        page.set_summary(self._summary(final))
        if self.history.xs:
            page.add_header("Losses")
            page.add_svg(loss_curves_svg(self.history.xs, self.history.ys, self.history.legend,
                                         title=f"{self.name} loss over time"))
            atomic_write_text(self.web_dir / HISTORY_FILE, self.history.to_json())
        epochs = self._epoch_images()
        for epoch in sorted(epochs, reverse=True):
            page.add_header(f"epoch [{epoch}]")
            files = [f"epoch{epoch:03d}_{label}.png" for label in epochs[epoch]]
            page.add_images(files, epochs[epoch], files, width=self.win_size)
        page.add_header("Options")
        page.add_table(((key, value) for key, value in sorted(vars(self.opt).items())), header=("option", "value"))
        page.save()


def _grid(images: Sequence[np.ndarray], ncols: int, padding: int = 2) -> np.ndarray:
    """H x W x 3 images in rows of ``ncols`` (all in one row when ncols <= 0), on a white background."""
    arrays = same_size(images)
    ncols = len(arrays) if ncols <= 0 else min(ncols, len(arrays))
    nrows = -(-len(arrays) // ncols)
    height, width = arrays[0].shape[:2]
    grid = np.full((nrows * (height + padding) + padding, ncols * (width + padding) + padding, 3), 255, np.uint8)
    for i, image in enumerate(arrays):
        top, left = padding + (i // ncols) * (height + padding), padding + (i % ncols) * (width + padding)
        grid[top:top + height, left:left + width] = image[..., :3]
    return grid
