"""TensorBoard (``--use_tensorboard``): losses, learning rate, time per iteration, validation metrics, the visuals
as one grid, the previews as another and the generator's graph (once), in ``run_dir/tensorboard``."""
from __future__ import annotations

import argparse
import logging
import warnings
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from monitoring.base_sink import MetricReport, Sink, SinkContext, require_package
from util.util import same_size

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


class TensorboardSink(Sink):
    """Scalars under their names (losses as ``loss/NAME``, metrics as ``val/NAME``) and images as ``visuals`` and
    ``previews`` (one preview image per row), at step = samples done."""

    @classmethod
    def modify_commandline_options(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--use_tensorboard", action="store_true",
                            help="log losses, learning rate and images to [checkpoints_dir]/[name]/tensorboard/")
        return parser

    @classmethod
    def wanted(cls, opt: argparse.Namespace) -> bool:
        return opt.use_tensorboard

    @classmethod
    def check(cls, opt: argparse.Namespace) -> None:
        require_package("torch.utils.tensorboard", "--use_tensorboard", "tensorboard")

    def __init__(self, context: SinkContext) -> None:
        super().__init__(context)
        from torch.utils.tensorboard import SummaryWriter

        self.ncols: int = context.opt.display_ncols
        self.writer = SummaryWriter(log_dir=str(context.run_dir / "tensorboard"))

    def images(self, images: Mapping[str, np.ndarray], epoch: int, step: int, keep: bool) -> None:
        self.writer.add_image("visuals", grid(list(images.values()), self.ncols), step, dataformats="HWC")

    def losses(self, x: float, losses: Mapping[str, float], step: int) -> None:
        for name, value in losses.items():
            self.writer.add_scalar(f"loss/{name}", value, step)

    def scalars(self, scalars: Mapping[str, float], step: int) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)

    def graph(self, net: "torch.nn.Module", example: "torch.Tensor") -> None:
        """The Graphs tab, as Keras' TensorBoard callback shows it. ``add_graph`` traces the network switched to
        eval mode for the trace, so batch-norm statistics and the random streams (dropout) stay untouched
        (tests/test_workflows.py checks that a run with the graph trains bitwise like one without)."""
        import torch

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on instance norm and deprecations: not the user's
            try:
                self.writer.add_graph(net, example[:1].detach())
            except Exception as err:  # the tracer raises many types; a missing picture must not stop training
                logger.warning("TensorBoard: the model graph could not be traced, training goes on without it "
                               "(%s)", " ".join(str(err).split())[:200])
                return
        self.writer.flush()

    def previews(self, rows: Sequence[Mapping[str, np.ndarray]], epoch: int, step: int) -> None:
        images = [image for row in rows for image in row.values()]
        self.writer.add_image("previews", grid(images, len(rows[0])), step, dataformats="HWC")

    def metrics(self, report: MetricReport) -> None:
        for name, value in report.values.items():
            self.writer.add_scalar(f"val/{name}", value, report.step)

    def close(self) -> None:
        self.writer.close()


def grid(images: Sequence[np.ndarray], ncols: int, padding: int = 2) -> np.ndarray:
    """H x W x 3 images in rows of ``ncols`` (all in one row when ncols <= 0), on a white background."""
    arrays = same_size(images)
    ncols = len(arrays) if ncols <= 0 else min(ncols, len(arrays))
    nrows = -(-len(arrays) // ncols)
    height, width = arrays[0].shape[:2]
    canvas = np.full((nrows * (height + padding) + padding, ncols * (width + padding) + padding, 3), 255, np.uint8)
    for i, image in enumerate(arrays):
        top, left = padding + (i // ncols) * (height + padding), padding + (i % ncols) * (width + padding)
        canvas[top:top + height, left:left + width] = image[..., :3]
    return canvas
