"""One-direction inference (``test.py --model test``): loads ``[epoch]_net_G[model_suffix].pth`` only.

Use it for a CycleGAN direction (``--model_suffix _A``), a pretrained generator, or any single generator.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict

from util.errors import UserError

from . import networks
from .base_model import BaseModel


class TestModel(BaseModel):
    """Visuals ``real`` and ``fake``; no losses, no training."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool = True) -> argparse.ArgumentParser:
        if is_train:
            raise UserError("argument --model: the test model only runs in test.py; "
                            "train with --model cycle_gan or --model pix2pix")
        parser.set_defaults(dataset_mode="single")
        parser.add_argument("--model_suffix", type=str, default="",
                            help="In checkpoints_dir, [epoch]_net_G[model_suffix].pth will be loaded as the generator.")
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.loss_names = []
        self.visual_names = ["real", "fake"]
        self.model_names = ["G" + opt.model_suffix]
        self.netG = networks.define_G(opt.input_nc, opt.output_nc, opt.ngf, opt.netG, opt.norm,
                                      not opt.no_dropout, opt.init_type, opt.init_gain).to(self.device)
        setattr(self, "netG" + opt.model_suffix, self.netG)

    def set_input(self, input: Dict[str, Any]) -> None:
        self.real = input["A"].to(self.device, non_blocking=True)
        self.image_paths = input["A_paths"]

    def forward(self) -> None:
        self.fake = self.netG(self.real)

    def optimize_parameters(self) -> None:
        """Nothing to optimise at test time."""
