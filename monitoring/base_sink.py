"""The sink interface: one place a training run is shown or recorded (a file, a page, a server, the terminal).

The Visualizer (util/visualizer.py) turns train.py's calls into the events below and hands each to every sink
the options ask for. A sink overrides only the events it shows; the rest do nothing. A new kind of event
(a model graph, say) is one more do-nothing method here plus one
Visualizer method that hands it on, so only the sinks that show it change.
"""
from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, field
from pathlib import Path
import math
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import numpy as np

from monitoring.history import LossHistory, MetricHistory
from util.errors import UserError

if TYPE_CHECKING:
    import torch


@dataclass
class SinkContext:
    """What every sink may need besides the options, computed once by the Visualizer."""

    opt: argparse.Namespace
    run_dir: Path                  # checkpoints_dir/name: where a sink writes its files
    total_epochs: int
    # every loss point so far: the Visualizer adds each before the sinks hear of it; the page sink restores the
    # saved one on --continue_train
    history: LossHistory
    interactive: Optional[bool]    # whether the terminal shows a progress bar; None: whether stdout is a terminal
    retry_seconds: Optional[float]  # how often a sink that lost its server tries again; None: the sink's default
    # every validation so far, added by the Visualizer like the loss points; the metrics sink restores the saved
    # one on --continue_train
    metrics: MetricHistory = field(default_factory=MetricHistory)


@dataclass(frozen=True)
class LossReport:
    """The losses of one logged iteration with its timing: the reference's loss_log.txt line."""

    epoch: int
    iters: int                     # samples done in this epoch
    losses: Mapping[str, float]
    t_comp: float                  # seconds of computation per sample
    t_data: float                  # seconds of data loading per sample

    def line(self) -> str:
        """``(epoch: 3, iters: 40, time: 0.123, data: 0.046) G_A: 0.500 D_A: 1.250 `` as the reference writes it."""
        message = "(epoch: %d, iters: %d, time: %.3f, data: %.3f) " % (self.epoch, self.iters, self.t_comp,
                                                                        self.t_data)
        return message + "".join("%s: %.3f " % (name, value) for name, value in self.losses.items())


@dataclass(frozen=True)
class MetricReport:
    """The validation metrics measured after an epoch (evaluation/validation.py)."""

    epoch: int
    step: int                      # samples done in the run
    images: int                    # validation images measured
    seconds: float                 # time the validation took (translation and metrics)
    metric_seconds: float          # the metrics' part of it
    values: Mapping[str, float]

    def line(self) -> str:
        """``(epoch: 3, validation: 50 images, 1.234 s, metrics 0.321 s) l1: 0.1234 psnr: 18.2034 ssim: 0.4512 ``"""
        message = "(epoch: %d, validation: %d images, %.3f s, metrics %.3f s) " % (
            self.epoch, self.images, self.seconds, self.metric_seconds)
        return message + "".join("%s: %s " % (name, _metric_text(value)) for name, value in self.values.items())


def _metric_text(value: float) -> str:
    return "%.4f" % value if math.isfinite(value) else str(value)


class Sink:
    """One destination of the run's events. Subclasses live in ``monitoring/{name}_sink.py`` as ``{Name}Sink``."""

    @classmethod
    def modify_commandline_options(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Declare this sink's own flags (train.py's parser calls it for every sink), so that a new logger is one
        file, as a model or a dataset mode is. The reference's display flags stay in options/train_options.py."""
        return parser

    @classmethod
    def wanted(cls, opt: argparse.Namespace) -> bool:
        """Whether the options ask for this sink (its flag)."""
        raise NotImplementedError

    @classmethod
    def check(cls, opt: argparse.Namespace) -> None:
        """Raise UserError when the sink cannot run (a missing package). Called for every wanted sink before any
        is built, so a run that asks for something missing stops before it writes anything."""

    def __init__(self, context: SinkContext) -> None:
        self.context = context

    def start_epoch(self, epoch: int, samples: int) -> None:
        """An epoch of ``samples`` samples (fewer when it resumes part-way) begins."""

    def advance(self, samples: int) -> None:
        """``samples`` more samples of the epoch are done."""

    def end_epoch(self, epoch: int, seconds: float, lr: Optional[float]) -> None:
        """The epoch is done after ``seconds``; ``lr`` is the learning rate after the scheduler's step (None when
        not given). The per-iteration ``scalars`` keep the rate each step used."""

    def images(self, images: Mapping[str, np.ndarray], epoch: int, step: int, keep: bool) -> None:
        """The current visuals, H x W x 3 uint8 by label; ``keep``: this set belongs on the training page."""

    def losses(self, x: float, losses: Mapping[str, float], step: int) -> None:
        """A point of the loss curves at x = epoch + fraction of the epoch (already in ``context.history``)."""

    def report(self, report: LossReport) -> None:
        """The logged iteration's losses and timing."""

    def previews(self, rows: Sequence[Mapping[str, np.ndarray]], epoch: int, step: int) -> None:
        """The fixed preview images translated after ``epoch``: one mapping (label: H x W x 3 uint8) per image,
        the same images every time, inputs (``real_*``) included."""

    def metrics(self, report: MetricReport) -> None:
        """Validation metrics (already in ``context.metrics``)."""

    def scalars(self, scalars: Mapping[str, float], step: int) -> None:
        """Other numbers of the run (learning rate, time per iteration) at ``step`` samples."""

    def graph(self, net: "torch.nn.Module", example: "torch.Tensor") -> None:
        """The model's generator and a real input batch, once per run. The network is the one being trained:
        a sink that runs it must leave its weights, statistics and the random streams as they were."""

    def close(self) -> None:
        """The run ends: write what is left, release files and connections. Called once."""


def require_package(module: str, flag: str, package: str) -> None:
    """Import ``module``, or stop with one line saying that ``flag`` needs ``package`` and how to install it."""
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise UserError(f"{flag} needs the {package} package: pip install {package}") from err
