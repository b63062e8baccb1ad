"""Colorization as pix2pix in Lab space: the L channel in, the two ab channels out."""
from __future__ import annotations

import argparse

import numpy as np
import torch
from skimage import color

from .pix2pix_model import Pix2PixModel


def lab2rgb(L: torch.Tensor, AB: torch.Tensor) -> torch.Tensor:
    """Lab batch (L in [-1, 1], ab scaled by 1/110) -> RGB batch in [-1, 1], on L's device."""
    lab = torch.cat([(L + 1.0) * 50.0, AB * 110.0], dim=1).detach().float().cpu().numpy()
    rgb = np.stack([color.lab2rgb(im.transpose(1, 2, 0)) for im in lab]).transpose(0, 3, 1, 2)
    return torch.from_numpy(rgb.astype(np.float32) * 2.0 - 1.0).to(L.device)


class ColorizationModel(Pix2PixModel):
    """pix2pix with ``--dataset_mode colorization``; shows the gray input, the real colour and the predicted colour."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool = True) -> argparse.ArgumentParser:
        Pix2PixModel.modify_commandline_options(parser, is_train)
        parser.set_defaults(dataset_mode="colorization")
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.visual_names = ["real_A", "real_B_rgb", "fake_B_rgb"]

    def compute_visuals(self) -> None:
        self.real_B_rgb = lab2rgb(self.real_A, self.real_B)
        self.fake_B_rgb = lab2rgb(self.real_A, self.fake_B)
