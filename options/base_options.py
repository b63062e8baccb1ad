"""Flags shared by training and testing, with the reference's names and defaults.

Parsing runs in stages like the reference (base flags, then the chosen model's hook, then the chosen dataset's
hook, then a strict parse), and then checks the values so that a bad one stops the run with one line.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path
from typing import NoReturn, Optional, Sequence

import data
import models
from data.base_dataset import PREPROCESS_CHOICES, check_size_options
from evaluation.metrics import WEIGHTS_ENV
from models import architectures
from models.architectures import add_architecture_flags
from models.networks import INIT_CHOICES
from util.device import resolve_gpu_ids
from util.errors import UserError
from util.fileio import atomic_write_text, check_writable_dir, is_main_process

logger = logging.getLogger(__name__)

DIRECTION_CHOICES = ["AtoB", "BtoA"]


class OptionParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (no usage dump) and exit with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def default_num_threads() -> int:
    """The reference's 4 data-loading workers, or as many as the cores this process may use when fewer: more
    workers than cores only make PyTorch warn."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, cores)


def _chosen(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]], dest: str) -> str:
    """The value of ``--{dest}`` on the command line, else the parser's current default. Read on its own so
    that a missing required flag or --help does not stop the staged parse before every flag is known."""
    peek = OptionParser(prog=parser.prog, add_help=False, allow_abbrev=False)
    peek.add_argument(f"--{dest}", default=parser.get_default(dest))
    return getattr(peek.parse_known_args(argv)[0], dest)


class BaseOptions:
    """Builds, parses, checks, prints and saves the options of a run."""

    isTrain = False

    def __init__(self) -> None:
        self.parser: Optional[argparse.ArgumentParser] = None

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add the flags common to train.py and test.py."""
        parser.add_argument("--dataroot", required=True,
                            help="path to images (should have subfolders trainA, trainB, valA, valB, etc)")
        parser.add_argument("--name", type=str, default="experiment_name",
                            help="name of the experiment. It decides where to store samples and models")
        parser.add_argument("--gpu_ids", type=str, default="0",
                            help="gpu ids: e.g. 0  0,1,2, 0,2. use -1 for CPU")
        parser.add_argument("--checkpoints_dir", type=str, default="./checkpoints", help="models are saved here")
        parser.add_argument("--seed", type=int, default=None,
                            help="seed every random number generator: a CPU run becomes repeatable")
        # model parameters
        parser.add_argument("--model", type=str, default="cycle_gan",
                            help="chooses which model to use. [cycle_gan | pix2pix | test | colorization | template]")
        add_architecture_flags(parser)
        parser.add_argument("--init_type", type=str, default="normal", choices=INIT_CHOICES,
                            help="network initialization")
        parser.add_argument("--init_gain", type=float, default=0.02,
                            help="scaling factor for normal, xavier and orthogonal.")
        # dataset parameters
        parser.add_argument("--dataset_mode", type=str, default="unaligned",
                            help="chooses how datasets are loaded. [unaligned | aligned | single | colorization]")
        parser.add_argument("--direction", type=str, default="AtoB", choices=DIRECTION_CHOICES,
                            help="AtoB or BtoA")
        parser.add_argument("--serial_batches", action="store_true",
                            help="if true, takes images in order to make batches, otherwise takes them randomly")
        parser.add_argument("--num_threads", default=default_num_threads(), type=int,
                            help="# threads for loading data: 4, or the cores this process may use when fewer")
        parser.add_argument("--batch_size", type=int, default=1, help="input batch size")
        parser.add_argument("--load_size", type=int, default=286, help="scale images to this size")
        parser.add_argument("--crop_size", type=int, default=256, help="then crop to this size")
        parser.add_argument("--max_dataset_size", type=int, default=float("inf"),
                            help="Maximum number of samples allowed per dataset. If the dataset directory "
                                 "contains more than max_dataset_size, only a subset is loaded.")
        parser.add_argument("--preprocess", type=str, default="resize_and_crop", choices=PREPROCESS_CHOICES,
                            help="scaling and cropping of images at load time")
        parser.add_argument("--no_flip", action="store_true",
                            help="if specified, do not flip the images for data augmentation")
        parser.add_argument("--display_winsize", type=int, default=256,
                            help="display window size for both visdom and HTML")
        # additional parameters
        parser.add_argument("--epoch", type=str, default="latest",
                            help="which epoch to load? set to latest to use latest cached model")
        parser.add_argument("--load_iter", type=int, default=0,
                            help="which iteration to load? if load_iter > 0, the code will load models by "
                                 "iter_[load_iter]; otherwise, the code will load models by [epoch]")
        parser.add_argument("--verbose", action="store_true", help="if specified, print more debugging information")
        parser.add_argument("--suffix", default="", type=str,
                            help="customized suffix: opt.name = opt.name + suffix: e.g., {model}_{netG}_size{load_size}")
        # speed
        parser.add_argument("--amp", type=str, default="none", choices=["none", "bf16", "fp16"],
                            help="mixed precision: autocast forward passes to bfloat16 or float16 (fp16 training "
                                 "adds a gradient scaler); losses stay float32")
        parser.add_argument("--channels_last", action="store_true",
                            help="keep network weights and activations in channels-last memory format")
        parser.add_argument("--compile", action="store_true",
                            help="torch.compile the networks (slow first iterations; pays off on long runs)")
        # logging
        parser.add_argument("--use_wandb", action="store_true", help="if specified, then init wandb logging")
        parser.add_argument("--wandb_project_name", type=str, default="CycleGAN-and-pix2pix",
                            help="specify wandb project name")
        parser.add_argument("--inception_weights", type=str, default=None,
                            help=f"pytorch-fid Inception weights file for FID/KID (default: ${WEIGHTS_ENV}); "
                                 "nothing is downloaded")
        return parser

    # ------------------------------------------------------------------ parsing
    def make_parser(self) -> argparse.ArgumentParser:
        """The base flags, without --help: gather_options adds it once the model's and dataset's flags are in."""
        prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "train.py"
        # no prefix matching: an abbreviated flag (--no_drop) would set a value that explicit_flags() cannot see,
        # so test.py would overwrite it from train_opt.txt
        parser = OptionParser(prog=prog, formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False,
                              add_help=False)
        return self.initialize(parser)

    def gather_options(self, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
        """Parse in stages so that the model and dataset may add flags and change defaults; --help comes last,
        so that it lists the chosen model's and dataset's own flags too."""
        parser = self.make_parser()
        try:
            model_option_setter = models.get_option_setter(_chosen(parser, argv, "model"))
        except UserError as err:
            parser.error(str(err))
        parser = model_option_setter(parser, self.isTrain)
        try:
            dataset_option_setter = data.get_option_setter(_chosen(parser, argv, "dataset_mode"))
        except UserError as err:
            parser.error(str(err))
        parser = dataset_option_setter(parser, self.isTrain)
        parser.add_argument("-h", "--help", action="help", help="show this help message and exit")
        self.parser = parser
        return parser.parse_args(argv)

    def explicit_flags(self, argv: Optional[Sequence[str]] = None) -> set:
        """The destinations the user set on the command line (as opposed to defaults)."""
        assert self.parser is not None
        argv = list(sys.argv[1:] if argv is None else argv)
        given = set()
        for action in self.parser._actions:
            for flag in action.option_strings:
                if any(a == flag or a.startswith(flag + "=") for a in argv):
                    given.add(action.dest)
        return given

    def print_options(self, opt: argparse.Namespace, keep_previous: bool = False) -> str:
        """Log the options (non-default values marked) and save them to ``{phase}_opt.txt``.

        With ``keep_previous`` (a resumed run) the file it replaces is kept as ``{phase}_opt.prev.txt``.
        """
        lines = ["----------------- Options ---------------"]
        for k, v in sorted(vars(opt).items()):
            if k in ("device", "size_multiple"):  # derived, not flags
                continue
            comment = ""
            default = self.parser.get_default(k) if self.parser is not None else None
            if v != default:
                comment = f"\t[default: {default}]"
            lines.append(f"{k:>25}: {str(v):<30}{comment}")
        lines.append("----------------- End -------------------")
        message = "\n".join(lines) + "\n"
        logger.info(message.rstrip("\n"))
        if is_main_process():
            path = Path(self.options_dir(opt)) / f"{opt.phase}_opt.txt"
            if keep_previous and path.is_file():
                atomic_write_text(path.with_suffix(".prev.txt"), path.read_text(encoding="utf-8"))
            atomic_write_text(path, message)
        return message

    def options_dir(self, opt: argparse.Namespace) -> str:
        """Where ``{phase}_opt.txt`` goes: the checkpoint folder (train) or the results folder (test)."""
        return os.path.join(opt.checkpoints_dir, opt.name)

    def parse(self, argv: Optional[Sequence[str]] = None, save: bool = True) -> argparse.Namespace:
        """Parse, check and complete the options (``isTrain``, ``gpu_ids`` list, ``device``, ``size_multiple``:
        derived here, the floor above data and models, so a dataset reads the model's multiple without importing it).
        """
        opt = self.gather_options(argv)
        opt.isTrain = self.isTrain
        self.complete(opt, argv)
        if opt.suffix:
            try:
                suffix = ("_" + opt.suffix.format(**vars(opt)))
            except (KeyError, IndexError, ValueError) as err:
                self.parser.error(f"argument --suffix: cannot format {opt.suffix!r}: {err}")
            opt.name = opt.name + suffix
        self.check(opt)
        try:
            opt.gpu_ids, opt.device = resolve_gpu_ids(opt.gpu_ids)
        except UserError as err:
            self.parser.error(str(err))
        if save:
            self.print_options(opt)
        self.opt = opt
        return opt

    def complete(self, opt: argparse.Namespace, argv: Optional[Sequence[str]]) -> None:
        """Hook for subclasses to fill in derived defaults before checking."""

    def check(self, opt: argparse.Namespace) -> None:
        """Reject values that cannot work, naming the flag."""
        error = self.parser.error
        if not os.path.exists(opt.dataroot):
            error(f"argument --dataroot: {opt.dataroot} does not exist")
        for flag in ("batch_size", "load_size", "crop_size", "ngf", "ndf", "input_nc", "output_nc",
                     "max_dataset_size", "display_winsize"):
            if getattr(opt, flag) < 1:
                error(f"argument --{flag}: must be at least 1, got {getattr(opt, flag)}")
        if opt.num_threads < 0:
            error(f"argument --num_threads: must be 0 or more, got {opt.num_threads}")
        if not math.isfinite(opt.init_gain):
            error(f"argument --init_gain: must be a finite number, got {opt.init_gain}")
        for flag in self.output_dir_flags():
            problem = check_writable_dir(getattr(opt, flag))
            if problem is not None:
                error(f"argument --{flag}: {problem}")
        problem = check_writable_dir(self.options_dir(opt))  # the run's own folder: a file of that name, read-only
        if problem is not None:
            error(f"argument --name: {problem}")
        try:
            architectures.check_model(opt)
            opt.size_multiple = self.size_multiple(opt)
            check_size_options(opt, opt.size_multiple)
        except UserError as err:
            error(str(err))

    def output_dir_flags(self) -> tuple:
        """The folder flags this command writes below (checked to be writable folders before anything runs)."""
        return ("checkpoints_dir",) if self.isTrain else ()

    def size_multiple(self, opt: argparse.Namespace) -> int:
        """What the sides of the images reaching the network must be a multiple of: the generator's, from the
        architecture table, unless the model pads its inputs and crops back (``pads_inputs``, the test model)."""
        model = models.find_model_using_name(opt.model)
        if getattr(model, "pads_inputs", False):
            return 1
        if hasattr(model, "size_multiple"):  # set by more flags than --netG (pix2pixhd's downsamplings)
            return model.size_multiple(opt)
        return architectures.generator(opt.netG).multiple
