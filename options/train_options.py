"""Flags of train.py: display, saving, resuming and optimisation (reference names and defaults)."""
from __future__ import annotations

import argparse
import math

from evaluation.metrics import HIGHER_IS_BETTER
from models.networks import GAN_MODE_CHOICES, LR_POLICY_CHOICES
from monitoring import available_sinks, sink_class

from .base_options import BaseOptions


class TrainOptions(BaseOptions):
    """Base flags plus the training ones."""

    isTrain = True

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = super().initialize(parser)
        # visdom and HTML visualization parameters
        parser.add_argument("--display_freq", type=int, default=400,
                            help="frequency of showing training results on screen")
        parser.add_argument("--display_ncols", type=int, default=4,
                            help="if positive, display all images in a single visdom web panel with certain "
                                 "number of images per row.")
        parser.add_argument("--display_id", type=int, default=1, help="window id of the web display (0 disables)")
        parser.add_argument("--display_server", type=str, default="http://localhost",
                            help="visdom server of the web display")
        parser.add_argument("--display_env", type=str, default="main",
                            help='visdom display environment name (default is "main")')
        parser.add_argument("--display_port", type=int, default=8097, help="visdom port of the web display")
        parser.add_argument("--update_html_freq", type=int, default=1000,
                            help="frequency of saving training results to html")
        parser.add_argument("--print_freq", type=int, default=100,
                            help="frequency of showing training results on console")
        parser.add_argument("--no_html", action="store_true",
                            help="do not save intermediate training results to [opt.checkpoints_dir]/[opt.name]/web/")
        for name in available_sinks():  # the loggers' own flags (--use_tensorboard)
            parser = sink_class(name).modify_commandline_options(parser)
        # validation during training (evaluation/validation.py)
        parser.add_argument("--val_freq", type=int, default=0,
                            help="every N epochs, translate fixed preview images and measure the validation set "
                                 "(the val folder, else test: valA/valB or testA/testB for unpaired data); 0: never")
        parser.add_argument("--val_size", type=int, default=50,
                            help="validation images to measure (L1/PSNR/SSIM for paired data, FID/KID for unpaired "
                                 "data with Inception weights); 0: previews only")
        parser.add_argument("--preview_images", type=int, default=4,
                            help="the first N validation images, shown after every validation on the training page "
                                 "(one row per epoch), Visdom and TensorBoard")
        parser.add_argument("--save_best", type=str, default=None, choices=sorted(HIGHER_IS_BETTER),
                            help="keep best_net_*.pth and its training state for the best validation value of this "
                                 "metric so far (mean over both directions for CycleGAN)")
        # network saving and loading parameters
        parser.add_argument("--save_latest_freq", type=int, default=5000, help="frequency of saving the latest results")
        parser.add_argument("--save_epoch_freq", type=int, default=5,
                            help="frequency of saving checkpoints at the end of epochs")
        parser.add_argument("--save_by_iter", action="store_true", help="whether saves model by iteration")
        parser.add_argument("--keep_last", type=int, default=0,
                            help="keep only the N newest numbered checkpoint sets of each kind (epoch saves, iter_ "
                                 "saves), removing older ones once a new set is written; latest and best_* sets "
                                 "are never removed (0: keep all)")
        parser.add_argument("--continue_train", action="store_true",
                            help="continue training: load the latest model and, when saved, the full training "
                                 "state (optimizers, schedulers, counters, image pools, RNG)")
        parser.add_argument("--epoch_count", type=int, default=1,
                            help="the starting epoch count; with --continue_train it is read from the saved "
                                 "training state unless given")
        parser.add_argument("--phase", type=str, default="train", help="train, val, test, etc")
        # training parameters
        parser.add_argument("--n_epochs", type=int, default=100, help="number of epochs with the initial learning rate")
        parser.add_argument("--n_epochs_decay", type=int, default=100,
                            help="number of epochs to linearly decay learning rate to zero")
        parser.add_argument("--beta1", type=float, default=0.5, help="momentum term of adam")
        parser.add_argument("--lr", type=float, default=0.0002, help="initial learning rate for adam")
        parser.add_argument("--gan_mode", type=str, default="lsgan", choices=GAN_MODE_CHOICES,
                            help="the type of GAN objective. vanilla GAN loss is the cross-entropy objective "
                                 "used in the original GAN paper.")
        parser.add_argument("--pool_size", type=int, default=50,
                            help="the size of image buffer that stores previously generated images")
        parser.add_argument("--lr_policy", type=str, default="linear", choices=LR_POLICY_CHOICES,
                            help="learning rate policy. [linear | step | plateau | cosine]")
        parser.add_argument("--no_sync_batchnorm", action="store_true",
                            help="under DDP (torchrun) keep batch norm per process instead of synchronising its "
                                 "statistics across processes")
        parser.add_argument("--lr_decay_iters", type=int, default=50,
                            help="multiply by a gamma every lr_decay_iters epochs (step policy)")
        parser.add_argument("--max_bad_steps", type=int, default=10,
                            help="a step whose losses or gradients are NaN/Inf is skipped; stop the run after this "
                                 "many such steps in a row (the last good checkpoint is kept)")
        return parser

    def check(self, opt: argparse.Namespace) -> None:
        super().check(opt)
        for flag in ("display_freq", "print_freq", "update_html_freq", "save_latest_freq", "save_epoch_freq"):
            if getattr(opt, flag) < 1:
                self.parser.error(f"argument --{flag}: must be at least 1, got {getattr(opt, flag)}")
        if opt.n_epochs < 0 or opt.n_epochs_decay < 0 or opt.n_epochs + opt.n_epochs_decay < 1:
            self.parser.error("argument --n_epochs/--n_epochs_decay: need at least one epoch in all")
        if opt.epoch_count < 1:
            self.parser.error(f"argument --epoch_count: must be at least 1, got {opt.epoch_count}")
        if opt.keep_last < 0:
            self.parser.error(f"argument --keep_last: must be 0 (keep all) or more, got {opt.keep_last}")
        if not (math.isfinite(opt.lr) and opt.lr > 0):
            self.parser.error(f"argument --lr: must be a positive number, got {opt.lr}")
        if not 0 <= opt.beta1 < 1:
            self.parser.error(f"argument --beta1: Adam's momentum term must be in [0, 1), got {opt.beta1}")
        if opt.max_bad_steps < 1:
            self.parser.error(f"argument --max_bad_steps: must be at least 1, got {opt.max_bad_steps}")
        if opt.pool_size < 0:
            self.parser.error(f"argument --pool_size: must be 0 or more, got {opt.pool_size}")
        for flag in ("val_freq", "val_size", "preview_images"):
            if getattr(opt, flag) < 0:
                self.parser.error(f"argument --{flag}: must be 0 or more, got {getattr(opt, flag)}")
        if opt.save_best and (opt.val_freq == 0 or opt.val_size == 0):
            self.parser.error("argument --save_best: needs validation metrics: set --val_freq N and --val_size N")
