"""A model to copy when adding your own: ``--model foo`` loads ``models/foo_model.py`` and its class ``FooModel``.

To add one:
1. copy this file to ``models/foo_model.py`` and rename the class to ``FooModel``;
2. add flags or change defaults in ``modify_commandline_options``;
3. in ``__init__`` list ``loss_names``, ``visual_names``, ``model_names`` and build ``self.netX``,
   the losses and ``self.optimizers``;
4. fill ``set_input``, ``forward`` and ``optimize_parameters``; there, backpropagate with ``self.backward(loss)``
   and step with ``self.step(optimizer)`` (they apply ``--amp fp16``'s loss scaling), and call a network whose
   parameters are frozen for this step through ``self.frozen(net)`` (no DDP gradient all-reduce for it).
Everything else (saving, resuming, schedulers, display) comes from ``BaseModel``.

This example learns a plain regression from A to B with an L1 loss.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict

import torch

from . import networks
from .base_model import BaseModel


class TemplateModel(BaseModel):
    """One generator trained with ``lambda_regression * L1(G(A), B)``."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool = True) -> argparse.ArgumentParser:
        parser.set_defaults(dataset_mode="aligned")
        if is_train:
            parser.add_argument("--lambda_regression", type=float, default=1.0, help="weight for the regression loss")
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.loss_names = ["G"]
        self.visual_names = ["data_A", "data_B", "output"]
        self.model_names = ["G"]
        self.netG = networks.define_G(opt.input_nc, opt.output_nc, opt.ngf, opt.netG,
                                      init_type=opt.init_type, init_gain=opt.init_gain).to(self.device)
        if self.isTrain:
            self.criterionLoss = networks.Float32Loss(torch.nn.L1Loss())  # float32 even under --amp
            self.optimizer = torch.optim.Adam(self.netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
            self.optimizers = [self.optimizer]

    def set_input(self, input: Dict[str, Any]) -> None:
        self.data_A, self.data_B, self.image_paths = self.unpack_pair(input)

    def forward(self) -> None:
        self.output = self.netG(self.data_A)

    def backward_G(self) -> None:
        self.loss_G = self.criterionLoss(self.output, self.data_B) * self.opt.lambda_regression
        self.backward(self.loss_G)  # BaseModel.backward: fp16 loss scaling when --amp fp16

    def optimize_parameters(self) -> None:
        self.forward()
        self.optimizer.zero_grad()
        self.backward_G()
        self.step(self.optimizer)  # BaseModel.step: skips the step on NaN/Inf gradients under fp16
