"""CycleGAN (Zhu et al. 2017): unpaired translation with two generators, two PatchGAN discriminators,
cycle-consistency and identity losses, and image pools. G_A maps A to B; D_A judges G_A's output against real B.
"""
from __future__ import annotations

import argparse
import itertools
from typing import Any, Dict

import torch
from torch import nn

from util.errors import UserError
from util.image_pool import ImagePool

from . import networks
from .base_model import BaseModel


class CycleGANModel(BaseModel):
    """Losses ``D_A G_A cycle_A idt_A D_B G_B cycle_B idt_B``; networks ``G_A G_B`` (+ ``D_A D_B`` when training)."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool = True) -> argparse.ArgumentParser:
        parser.set_defaults(no_dropout=True)  # the paper's generators have no dropout
        if is_train:
            parser.add_argument("--lambda_A", type=float, default=10.0, help="weight for cycle loss (A -> B -> A)")
            parser.add_argument("--lambda_B", type=float, default=10.0, help="weight for cycle loss (B -> A -> B)")
            parser.add_argument("--lambda_identity", type=float, default=0.5,
                                help="use identity mapping. Setting lambda_identity other than 0 has an effect of "
                                     "scaling the weight of the identity mapping loss, relative to the cycle loss")
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.loss_names = ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]
        visual_names_A = ["real_A", "fake_B", "rec_A"]
        visual_names_B = ["real_B", "fake_A", "rec_B"]
        if self.isTrain and opt.lambda_identity > 0.0:
            visual_names_A.append("idt_B")
            visual_names_B.append("idt_A")
        self.visual_names = visual_names_A + visual_names_B
        self.model_names = ["G_A", "G_B", "D_A", "D_B"] if self.isTrain else ["G_A", "G_B"]

        self.netG_A = networks.define_G(opt.input_nc, opt.output_nc, opt.ngf, opt.netG, opt.norm,
                                        not opt.no_dropout, opt.init_type, opt.init_gain).to(self.device)
        self.netG_B = networks.define_G(opt.output_nc, opt.input_nc, opt.ngf, opt.netG, opt.norm,
                                        not opt.no_dropout, opt.init_type, opt.init_gain).to(self.device)
        if self.isTrain:
            self.netD_A = networks.define_D(opt.output_nc, opt.ndf, opt.netD, opt.n_layers_D, opt.norm,
                                            opt.init_type, opt.init_gain).to(self.device)
            self.netD_B = networks.define_D(opt.input_nc, opt.ndf, opt.netD, opt.n_layers_D, opt.norm,
                                            opt.init_type, opt.init_gain).to(self.device)
            if opt.lambda_identity > 0.0 and opt.input_nc != opt.output_nc:
                raise UserError(f"argument --lambda_identity: the identity loss needs --input_nc == --output_nc "
                                f"(got {opt.input_nc} and {opt.output_nc}); pass --lambda_identity 0")
            self.fake_A_pool = ImagePool(opt.pool_size)
            self.fake_B_pool = ImagePool(opt.pool_size)
            self.criterionGAN = networks.GANLoss(opt.gan_mode).to(self.device)
            self.criterionCycle = networks.Float32Loss(nn.L1Loss())
            self.criterionIdt = networks.Float32Loss(nn.L1Loss())
            self.optimizer_G = torch.optim.Adam(itertools.chain(self.netG_A.parameters(), self.netG_B.parameters()),
                                                lr=opt.lr, betas=(opt.beta1, 0.999))
            self.optimizer_D = torch.optim.Adam(itertools.chain(self.netD_A.parameters(), self.netD_B.parameters()),
                                                lr=opt.lr, betas=(opt.beta1, 0.999))
            self.optimizers = [self.optimizer_G, self.optimizer_D]

    def set_input(self, input: Dict[str, Any]) -> None:
        self.real_A, self.real_B, self.image_paths = self.unpack_pair(input)

    def forward(self) -> None:
        self.fake_B = self.netG_A(self.real_A)  # G_A(A)
        self.rec_A = self.netG_B(self.fake_B)   # G_B(G_A(A))
        self.fake_A = self.netG_B(self.real_B)  # G_B(B)
        self.rec_B = self.netG_A(self.fake_A)   # G_A(G_B(B))

    def backward_D_basic(self, netD: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss; backpropagates.

        ``L_D = (L_GAN(D(real), real) + L_GAN(D(fake), fake)) / 2``: halved so that D learns more slowly than G
        (the paper's choice), with the fake drawn from the image pool. For wgangp the gradient penalty is added.
        """
        loss_D_real = self.criterionGAN(netD(real), True)
        loss_D_fake = self.criterionGAN(netD(fake.detach()), False)
        loss_D = (loss_D_real + loss_D_fake) * 0.5
        if self.opt.gan_mode == "wgangp":
            penalty, _ = networks.cal_gradient_penalty(netD, real, fake.detach(), self.device)
            loss_D = loss_D + penalty
        self.backward(loss_D)
        return loss_D

    def backward_D_A(self) -> None:
        fake_B = self.fake_B_pool.query(self.fake_B)
        self.loss_D_A = self.backward_D_basic(self.netD_A, self.real_B, fake_B)

    def backward_D_B(self) -> None:
        fake_A = self.fake_A_pool.query(self.fake_A)
        self.loss_D_B = self.backward_D_basic(self.netD_B, self.real_A, fake_A)

    def backward_G(self) -> None:
        """The generators' loss, summed over both directions; backpropagates.

        GAN: ``G_A`` wants ``D_A(G_A(A))`` judged real, i.e. ``L_GAN = E[(D_A(G_A(a)) - 1)^2]`` for lsgan (the
        binary cross-entropy against 1 for vanilla). Cycle: translating there and back must return the input,
        ``L_cyc = lambda_A * |G_B(G_A(a)) - a|_1 + lambda_B * |G_A(G_B(b)) - b|_1``; this is what ties an unpaired
        translation to its input. Identity: a generator fed an image already of its output domain should leave
        it alone, ``L_idt = lambda_identity * (lambda_B * |G_A(b) - b|_1 + lambda_A * |G_B(a) - a|_1)``; it keeps
        colours from drifting (the paper uses it for paintings <-> photos).
        """
        lambda_idt = self.opt.lambda_identity
        lambda_A = self.opt.lambda_A
        lambda_B = self.opt.lambda_B
        if lambda_idt > 0:
            self.idt_A = self.netG_A(self.real_B)
            self.loss_idt_A = self.criterionIdt(self.idt_A, self.real_B) * lambda_B * lambda_idt
            self.idt_B = self.netG_B(self.real_A)
            self.loss_idt_B = self.criterionIdt(self.idt_B, self.real_A) * lambda_A * lambda_idt
        else:
            self.loss_idt_A = 0
            self.loss_idt_B = 0
        self.loss_G_A = self.criterionGAN(self.frozen(self.netD_A)(self.fake_B), True)
        self.loss_G_B = self.criterionGAN(self.frozen(self.netD_B)(self.fake_A), True)
        self.loss_cycle_A = self.criterionCycle(self.rec_A, self.real_A) * lambda_A
        self.loss_cycle_B = self.criterionCycle(self.rec_B, self.real_B) * lambda_B
        self.loss_G = (self.loss_G_A + self.loss_G_B + self.loss_cycle_A + self.loss_cycle_B
                       + self.loss_idt_A + self.loss_idt_B)
        self.backward(self.loss_G)

    def optimize_parameters(self) -> None:
        self.forward()
        self.set_requires_grad([self.netD_A, self.netD_B], False)  # D needs no gradients while G steps
        self.optimizer_G.zero_grad()
        self.backward_G()
        self.step(self.optimizer_G)
        self.set_requires_grad([self.netD_A, self.netD_B], True)
        self.optimizer_D.zero_grad()
        self.backward_D_A()
        self.backward_D_B()
        self.step(self.optimizer_D)
