"""Colorization: each RGB image in ``dataroot/phase`` becomes A = its lightness L and B = its colour ab (Lab).

A = L / 50 - 1 and B = ab / 110, both clipped to [-1, 1] (the reference left ab unclipped, so saturated
colours fell outside the generator's tanh range). models/colorization_model.py turns them back into RGB.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List, Mapping

import numpy as np
import torch

from data.base_dataset import BaseDataset, get_transform
from data.image_folder import load_image, make_dataset
from util.errors import UserError

try:
    from skimage.color import rgb2lab
except ImportError:  # reported when the dataset is created, so other modes work without scikit-image
    rgb2lab = None

GRAY_MODES = {"1", "L", "LA", "La"}  # PIL modes without colour
_REQUIRED = {"input_nc": 1, "output_nc": 2, "direction": "AtoB"}


class ColorizationDataset(BaseDataset):
    """``{'A': L (1 channel), 'B': ab (2 channels), 'A_paths', 'B_paths'}``; both paths are the image."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.set_defaults(**_REQUIRED)
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        for flag, value in _REQUIRED.items():
            if getattr(opt, flag) != value:
                raise UserError(f"--{flag} must be {value} with --dataset_mode colorization "
                                f"(A is the L channel, B the two ab channels), got {getattr(opt, flag)}")
        if rgb2lab is None:
            raise UserError("--dataset_mode colorization needs scikit-image: pip install scikit-image")
        self.dir = os.path.join(opt.dataroot, opt.phase)
        self.AB_paths = make_dataset(self.dir, opt.max_dataset_size)
        self.transform = get_transform(opt, convert=False)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.AB_paths[index]
        im = self.apply(self.transform, load_image(path, "RGB"), path)
        lab = torch.from_numpy(rgb2lab(np.asarray(im)).astype(np.float32)).permute(2, 0, 1)
        A = (lab[[0], ...] / 50.0 - 1.0).clamp(-1.0, 1.0)
        B = (lab[[1, 2], ...] / 110.0).clamp(-1.0, 1.0)
        return {"A": A, "B": B, "A_paths": path, "B_paths": path}

    def __len__(self) -> int:
        return len(self.AB_paths)

    def image_folders(self) -> Dict[str, List[str]]:
        return {self.dir: self.AB_paths}

    def folder_warnings(self, folder: str, modes: Mapping[str, int]) -> List[str]:
        gray = sum(n for m, n in modes.items() if m in GRAY_MODES)
        return [f"{folder}: {gray} image(s) are grayscale and carry no colour to learn"] if gray else []
