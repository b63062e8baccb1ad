"""Weights & Biases (``--use_wandb``): losses, other scalars, validation metrics, the visuals and the previews,
logged at step = samples done.

A run already started by the caller (``wandb.run``) is reused and left open; otherwise this sink starts one in
the run folder, named after the experiment with the options as its config, and finishes it at the end.
"""
from __future__ import annotations

import argparse
from typing import Any, Mapping, Sequence

import numpy as np

from monitoring.base_sink import MetricReport, Sink, SinkContext, require_package
from util.errors import UserError


class WandbSink(Sink):
    """Losses as ``loss/NAME``, scalars under their names, metrics as ``val/NAME``, images as ``results/LABEL``
    and ``previews/LABEL`` (one image per preview)."""

    @classmethod
    def wanted(cls, opt: argparse.Namespace) -> bool:
        return opt.use_wandb

    @classmethod
    def check(cls, opt: argparse.Namespace) -> None:
        require_package("wandb", "--use_wandb", "wandb")

    def __init__(self, context: SinkContext) -> None:
        super().__init__(context)
        import wandb

        self.wandb = wandb
        self.own_run = wandb.run is None
        self.run = wandb.run if not self.own_run else self._start(context)

    def _start(self, context: SinkContext) -> Any:
        opt = context.opt
        config = {key: value if isinstance(value, (bool, int, float, str, type(None), list, tuple)) else str(value)
                  for key, value in vars(opt).items()}
        try:
            return self.wandb.init(project=opt.wandb_project_name, name=opt.name, config=config,
                                   dir=str(context.run_dir))
        except self.wandb.errors.Error as err:
            raise UserError(f"--use_wandb: could not start Weights & Biases ({err}); log in with `wandb login`, "
                            "or set WANDB_MODE=offline to log to local files") from err

    def images(self, images: Mapping[str, np.ndarray], epoch: int, step: int, keep: bool) -> None:
        self.run.log({f"results/{label}": self.wandb.Image(image, caption=f"{label} - Step {step}")
                      for label, image in images.items()}, step=step)

    def losses(self, x: float, losses: Mapping[str, float], step: int) -> None:
        self.run.log({f"loss/{name}": value for name, value in losses.items()}, step=step)

    def scalars(self, scalars: Mapping[str, float], step: int) -> None:
        self.run.log(dict(scalars), step=step)

    def previews(self, rows: Sequence[Mapping[str, np.ndarray]], epoch: int, step: int) -> None:
        self.run.log({f"previews/{label}": [self.wandb.Image(row[label], caption=f"preview {i} - epoch {epoch}")
                                            for i, row in enumerate(rows)] for label in rows[0]}, step=step)

    def metrics(self, report: MetricReport) -> None:
        self.run.log({f"val/{name}": value for name, value in report.values.items()}, step=report.step)

    def close(self) -> None:
        """Finish the run this sink started, then tear W&B down: under load ``finish`` alone can return before
        the run file holds the logged rows."""
        if self.own_run:
            self.run.finish()
            self.wandb.teardown()
