"""pix2pix (Isola et al. 2017): paired translation with a U-Net generator, a conditional PatchGAN and an L1 loss."""
from __future__ import annotations

import argparse
from typing import Any, Dict

import torch
from torch import nn

from . import networks
from .base_model import BaseModel


class Pix2PixModel(BaseModel):
    """Losses ``G_GAN G_L1 D_real D_fake``; D sees the input and the output stacked on the channel axis."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool = True) -> argparse.ArgumentParser:
        parser.set_defaults(norm="batch", netG="unet_256", dataset_mode="aligned")
        if is_train:
            parser.set_defaults(pool_size=0, gan_mode="vanilla")
            parser.add_argument("--lambda_L1", type=float, default=100.0, help="weight for L1 loss")
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.loss_names = ["G_GAN", "G_L1", "D_real", "D_fake"]
        self.visual_names = ["real_A", "fake_B", "real_B"]
        self.model_names = ["G", "D"] if self.isTrain else ["G"]
        self.netG = networks.define_G(opt.input_nc, opt.output_nc, opt.ngf, opt.netG, opt.norm,
                                      not opt.no_dropout, opt.init_type, opt.init_gain).to(self.device)
        if self.isTrain:
            self.netD = networks.define_D(opt.input_nc + opt.output_nc, opt.ndf, opt.netD, opt.n_layers_D,
                                          opt.norm, opt.init_type, opt.init_gain).to(self.device)
            self.criterionGAN = networks.GANLoss(opt.gan_mode).to(self.device)
            self.criterionL1 = networks.Float32Loss(nn.L1Loss())
            self.optimizer_G = torch.optim.Adam(self.netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
            self.optimizer_D = torch.optim.Adam(self.netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
            self.optimizers = [self.optimizer_G, self.optimizer_D]

    def set_input(self, input: Dict[str, Any]) -> None:
        self.real_A, self.real_B, self.image_paths = self.unpack_pair(input)

    def forward(self) -> None:
        self.fake_B = self.netG(self.real_A)

    def backward_D(self) -> None:
        """The conditional discriminator's loss; backpropagates.

        D judges pairs: ``L_D = (L_GAN(D(a, b), real) + L_GAN(D(a, G(a)), fake)) / 2``, so it learns whether the
        output fits this input, not only whether it looks real. Halved to slow D down relative to G.
        """
        fake_AB = torch.cat((self.real_A, self.fake_B), 1)
        self.loss_D_fake = self.criterionGAN(self.netD(fake_AB.detach()), False)
        real_AB = torch.cat((self.real_A, self.real_B), 1)
        self.loss_D_real = self.criterionGAN(self.netD(real_AB), True)
        self.loss_D = (self.loss_D_fake + self.loss_D_real) * 0.5
        if self.opt.gan_mode == "wgangp":
            penalty, _ = networks.cal_gradient_penalty(self.netD, real_AB, fake_AB.detach(), self.device)
            self.loss_D = self.loss_D + penalty
        self.backward(self.loss_D)

    def backward_G(self) -> None:
        """The generator's loss; backpropagates.

        ``L_G = L_GAN(D(a, G(a)), real) + lambda_L1 * |G(a) - b|_1``: the L1 term gets the low frequencies right
        (it alone gives blurry but correct images), the GAN term the sharp detail the L1 average washes out.
        """
        fake_AB = torch.cat((self.real_A, self.fake_B), 1)
        self.loss_G_GAN = self.criterionGAN(self.frozen(self.netD)(fake_AB), True)
        self.loss_G_L1 = self.criterionL1(self.fake_B, self.real_B) * self.opt.lambda_L1
        self.loss_G = self.loss_G_GAN + self.loss_G_L1
        self.backward(self.loss_G)

    def optimize_parameters(self) -> None:
        self.forward()
        self.set_requires_grad(self.netD, True)
        self.optimizer_D.zero_grad()
        self.backward_D()
        self.step(self.optimizer_D)
        self.set_requires_grad(self.netD, False)  # D needs no gradients while G steps
        self.optimizer_G.zero_grad()
        self.backward_G()
        self.step(self.optimizer_G)
