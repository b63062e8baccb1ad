"""Validation during training (``train.py --val_freq N``): every N epochs the model translates a fixed set of
validation images in eval mode; the first ``--preview_images`` go to the Visualizer as previews, up to
``--val_size`` are measured (L1/PSNR/SSIM when the dataset's rows are pairs, FID/KID of the translated set
against the real one otherwise), and ``--save_best METRIC`` saves the ``best`` checkpoint set when the metric
improves.

The validation images are read once, at the start, without augmentation (resized to ``--crop_size`` as test.py
reads them), from ``dataroot/val`` (``valA``/``valB``) or else ``dataroot/test`` (``testA``/``testB``). Reading
and validating leave the random number generators as they were, so a run with validation trains exactly like
one without.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import torch

from data import batch_length, create_dataset, find_dataset_using_name
from evaluation.folders import RESULT_PAIRS
from evaluation.metrics import (HIGHER_IS_BETTER, PAIRED_DATASET_MODES, PAIRED_METRICS, SET_METRICS, SSIM_WINDOW,
                                Evaluator, from_model_range, inception_weights_file, missing_weights_message)
from models.base_model import BaseModel
from util import distributed
from util.errors import UserError
from util.seeding import get_rng_state, set_rng_state

if TYPE_CHECKING:  # only train.py's Visualizer is handed in: evaluation/ sits below monitoring/
    from util.visualizer import Visualizer

logger = logging.getLogger(__name__)

VALIDATION_PHASES = ("val", "test")


def validation_phase(opt: argparse.Namespace) -> str:
    """``val`` when the dataset mode's folders for it exist under --dataroot, else ``test``; a UserError when
    neither does."""
    dataset_class = find_dataset_using_name(opt.dataset_mode)
    if not getattr(dataset_class, "uses_phase", True):
        raise UserError(f"--val_freq: --dataset_mode {opt.dataset_mode} has no validation folder (it reads "
                        "--dataroot itself); pass --val_freq 0")
    suffixes = ("A", "B") if opt.dataset_mode == "unaligned" else ("",)
    for phase in VALIDATION_PHASES:
        if all(os.path.isdir(os.path.join(opt.dataroot, phase + s)) for s in suffixes):
            return phase
    wanted = " or ".join("/".join(p + s for s in suffixes) for p in VALIDATION_PHASES)
    raise UserError(f"--val_freq: no validation images: {opt.dataroot} has no {wanted} folder "
                    "(add one, or pass --val_freq 0)")


class Validation:
    """The validation images of a run (loaded once) and what is measured on them."""

    def __init__(self, opt: argparse.Namespace, model: BaseModel) -> None:
        self.opt = opt
        self.model = model
        self.paired = opt.dataset_mode in PAIRED_DATASET_MODES
        # (translated, real) visual names this model produces, and the suffix of their metric names
        found = [(fake, real) for fake, real in RESULT_PAIRS if {fake, real} <= set(model.visual_names)]
        self.comparisons: List[Tuple[str, str, str]] = [
            (fake, real, "" if len(found) == 1 else "_" + fake.split("_")[1]) for fake, real in found]
        self.metrics = self._choose_metrics()
        self.batches = self._load()
        self.count = sum(batch_length(batch) for batch in self.batches)
        self.measured = min(self.count, opt.val_size) if self.metrics else 0
        self._check_sizes()
        self.evaluators: List[Evaluator] = []
        for _ in self.comparisons if self.measured else ():  # one Inception network for both directions
            shared = self.evaluators[0].features if self.evaluators else None
            self.evaluators.append(Evaluator(self.metrics, opt.device, opt.inception_weights, features=shared))
        self._real_features_done = False
        self._metric_seconds = 0.0  # of the current validation: the metrics' share of its time
        logger.info("validation every %d epoch(s) on %d image(s) of %s: %d preview(s), metrics %s", opt.val_freq,
                    self.count, self.phase, min(opt.preview_images, self.count),
                    ", ".join(self.metric_names()) if self.measured else "none")

    # ------------------------------------------------------------------ set-up
    def _choose_metrics(self) -> Tuple[str, ...]:
        """The metrics this model and dataset allow; --save_best must be one of them."""
        opt = self.opt
        if opt.val_size == 0 or not self.comparisons:
            metrics: Tuple[str, ...] = ()
            if opt.val_size and not self.comparisons:
                logger.info("--val_size: --model %s has no translated/real image pair to measure; previews only",
                            opt.model)
        elif self.paired:
            metrics = PAIRED_METRICS
        elif inception_weights_file(opt.inception_weights) is not None:
            metrics = SET_METRICS
        else:
            logger.warning("validation: %s (unpaired data: previews only)", missing_weights_message())
            metrics = ()
        if opt.save_best and opt.save_best not in metrics:
            kind = "paired" if self.paired else "unpaired"
            raise UserError(f"argument --save_best: {opt.save_best} is not measured for this run ({kind} data, "
                            f"--model {opt.model}); measured: {', '.join(metrics) or 'nothing'}"
                            + ("" if self.paired or metrics else " (FID/KID need --inception_weights)"))
        return metrics

    def _load(self) -> List[Dict[str, Any]]:
        """The validation batches, read once without augmentation, leaving the random generators untouched."""
        opt = self.opt
        self.phase = validation_phase(opt)
        val_opt = argparse.Namespace(**vars(opt))
        val_opt.phase = self.phase
        val_opt.serial_batches, val_opt.no_flip, val_opt.num_threads = True, True, 0
        val_opt.load_size = opt.crop_size  # as test.py reads images: resized, not randomly cropped
        val_opt.max_dataset_size = max(opt.val_size, opt.preview_images, 1)
        rng = get_rng_state()
        try:
            return list(create_dataset(val_opt))
        finally:
            set_rng_state(rng)

    def _check_sizes(self) -> None:
        """Stop before training when the metrics cannot run on these images."""
        if not self.measured:
            return
        height, width = next(v for v in self.batches[0].values() if torch.is_tensor(v) and v.dim() == 4).shape[2:]
        if self.paired and min(height, width) < SSIM_WINDOW:
            raise UserError(f"--val_size: SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, "
                            f"--crop_size gives {width} x {height} (or pass --val_size 0)")
        if not self.paired and self.measured < 2:
            raise UserError(f"--val_size: FID and KID need at least 2 validation images, got {self.measured}")

    def metric_names(self) -> List[str]:
        names = [m + suffix for _, _, suffix in self.comparisons for m in self.metrics]
        return names + [f"kid_std{suffix}" for _, _, suffix in self.comparisons if "kid" in self.metrics]

    # ------------------------------------------------------------------ one validation
    def run(self, epoch: int, total_iters: int, counters: Dict[str, Any],
            visualizer: "Visualizer") -> Dict[str, float]:
        """Translate the validation images, show the previews, log the metrics, save the best set; the values.

        Every rank of a DDP run validates (its networks must not sit out a forward pass), and rank 0, which
        holds the run's metric history, decides whether the set is the best: saving it is a collective.
        """
        start = time.time()
        self._metric_seconds = 0.0
        rng = get_rng_state()
        modes = {name: net.training for name, net in self.model.networks().items()}
        self.model.eval()
        previews: List[Dict[str, torch.Tensor]] = []
        for evaluator in self.evaluators:
            evaluator.reset(keep_real=True)
        try:
            done = 0
            for batch in self.batches:
                self.model.set_input(batch)
                self.model.test()
                visuals = self.model.get_current_visuals()
                size = batch_length(batch)
                for i in range(min(size, self.opt.preview_images - len(previews))):
                    previews.append({label: image[i:i + 1].detach().cpu() for label, image in visuals.items()
                                     if label.startswith(("real", "fake"))})
                take = min(size, self.measured - done)
                if take > 0:
                    self._measure(visuals, take)
                done += size
            values = self._compute()
        finally:
            for name, net in self.model.networks().items():
                net.train(modes[name])
            set_rng_state(rng)
        self._real_features_done = True
        visualizer.display_previews(previews, epoch, total_iters)
        if values:
            best = distributed.broadcast_object(self._is_best(values, epoch, visualizer))  # rank 0 holds the history
            visualizer.log_metrics(epoch, values, self.measured, time.time() - start, self._metric_seconds,
                                   total_iters)
            if best:
                logger.info("best %s so far (%.4f at epoch %d): saving the best checkpoint set", self.opt.save_best,
                            self.score(values), epoch)
                self.model.save_networks("best", counters)
        return values

    def _measure(self, visuals: Dict[str, torch.Tensor], take: int) -> None:
        if self.model.device.type == "cuda":  # the translation may still be queued: not the metrics' time
            torch.cuda.synchronize(self.model.device)
        start = time.time()
        for (fake_label, real_label, _), evaluator in zip(self.comparisons, self.evaluators):
            fake = from_model_range(visuals[fake_label][:take])
            real = from_model_range(visuals[real_label][:take])
            if self.paired:
                evaluator.update(fake, real)
            else:
                evaluator.update_fake(fake)
                if not self._real_features_done:  # the real images do not change: their features are kept
                    evaluator.update_real(real)
        self._metric_seconds += time.time() - start  # the results are on the CPU: the device has finished

    def _compute(self) -> Dict[str, float]:
        start = time.time()
        values: Dict[str, float] = {}
        for (_, _, suffix), evaluator in zip(self.comparisons, self.evaluators):
            values.update({name + suffix: value for name, value in evaluator.compute().items()})
        self._metric_seconds += time.time() - start
        return values

    def score(self, values: Dict[str, float]) -> float:
        """The --save_best metric of one validation: its mean over the comparisons (both CycleGAN directions)."""
        scores = [values.get(self.opt.save_best + suffix, math.nan) for _, _, suffix in self.comparisons]
        return sum(scores) / len(scores)

    def _is_best(self, values: Dict[str, float], epoch: int, visualizer: "Visualizer") -> bool:
        """Whether --save_best's metric beats every earlier validation of this run (resumed runs included)."""
        if not self.opt.save_best:
            return False
        score = self.score(values)
        if math.isnan(score):
            return False
        sign = 1.0 if HIGHER_IS_BETTER[self.opt.save_best] else -1.0
        earlier = [self.score(r["values"]) for r in visualizer.metrics.records if r["epoch"] < epoch]
        return all(math.isnan(e) or sign * score > sign * e for e in earlier)


def create_validation(opt: argparse.Namespace, model: BaseModel) -> Optional[Validation]:
    """The run's Validation, or None with --val_freq 0."""
    return Validation(opt, model) if opt.val_freq > 0 else None


__all__ = ["Validation", "create_validation", "validation_phase"]
