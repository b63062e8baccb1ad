"""Flags of test.py. Architecture flags the user leaves out are taken from the training run's options."""
from __future__ import annotations

import argparse
import logging
import os
from typing import Optional, Sequence

import models
from models.architectures import ARCHITECTURE_FLAGS
from util.saved_options import read_saved_flags

from .base_options import BaseOptions

logger = logging.getLogger(__name__)


class TestOptions(BaseOptions):
    """Base flags plus the test ones."""

    isTrain = False
    __test__ = False  # not a pytest class

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = super().initialize(parser)
        parser.add_argument("--results_dir", type=str, default="./results/", help="saves results here.")
        parser.add_argument("--aspect_ratio", type=float, default=1.0, help="aspect ratio of result images")
        parser.add_argument("--phase", type=str, default="test", help="train, val, test, etc")
        parser.add_argument("--eval", action="store_true", help="use eval mode during test time.")
        parser.add_argument("--num_test", type=int, default=50, help="how many test images to run")
        parser.add_argument("--eval_metrics", action="store_true",
                            help="measure the results at the end (scripts/evaluate.py: L1/PSNR/SSIM for aligned "
                                 "data, FID/KID) and show them on the results page")
        # the reference fixed load_size to 256 here; None means "same as --crop_size" (see complete()).
        # Loading in the main process by default, as the reference forces; --num_threads still works.
        parser.set_defaults(model="test", load_size=None, num_threads=0)
        return parser

    def complete(self, opt: argparse.Namespace, argv: Optional[Sequence[str]]) -> None:
        if opt.load_size is None:
            opt.load_size = opt.crop_size
        # the reference's test-time settings (fixed order, no augmentation, no Visdom), set here so that
        # test_opt.txt records what ran
        opt.serial_batches = True
        opt.no_flip = True
        opt.display_id = -1
        self.inherit_training_options(opt, argv)

    def inherit_training_options(self, opt: argparse.Namespace, argv: Optional[Sequence[str]]) -> None:
        """Take architecture flags from ``checkpoints/NAME/train_opt.txt`` when the user did not give them."""
        saved_path = os.path.join(opt.checkpoints_dir, opt.name, "train_opt.txt")
        given = self.explicit_flags(argv)
        model_flags = getattr(models.find_model_using_name(opt.model), "architecture_flags", ())
        flags = ARCHITECTURE_FLAGS + tuple(f for f in model_flags if f not in ARCHITECTURE_FLAGS)
        saved = read_saved_flags(saved_path, self.parser, [f for f in flags if f not in given])
        inherited = []
        for flag, value in saved.items():
            if value != getattr(opt, flag):
                setattr(opt, flag, value)
                inherited.append(f"--{flag} {value}")
        if inherited:
            logger.info("using the training run's %s (from %s)", ", ".join(inherited), saved_path)

    def output_dir_flags(self) -> tuple:
        return ("results_dir",)

    def options_dir(self, opt: argparse.Namespace) -> str:
        return os.path.join(opt.results_dir, opt.name)
