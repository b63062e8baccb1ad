"""Unpaired images: domain A in ``dataroot/{phase}A``, domain B in ``dataroot/{phase}B``, or in folders with other
names: ``--dirA a_resized --dirB b_resized`` (inside ``--dataroot`` unless absolute), so a dataset laid out for
another tool needs no renaming.

Sample i takes A image i (wrapping round) and, unless ``--serial_batches``, a B image drawn at random with
Python's ``random`` (seeded by ``--seed`` and per DataLoader worker), so the pairing changes every epoch and a
seeded run repeats it. A and B get independent random crops and flips.
"""
from __future__ import annotations

import argparse
import os
import random
from typing import Any, Dict, List, Optional

from data.base_dataset import BaseDataset, get_transform
from data.image_folder import load_image, make_dataset
from util.errors import UserError


class UnalignedDataset(BaseDataset):
    """``{'A', 'B', 'A_paths', 'B_paths'}``; one epoch is max(|A|, |B|) samples."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        for side in ("A", "B"):
            parser.add_argument(f"--dir{side}", type=str, default=None,
                                help=f"folder of domain {side}, inside --dataroot unless absolute "
                                     f"(default: [phase]{side}, e.g. train{side})")
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.dir_A = self.side_folder(opt, "A")
        self.dir_B = self.side_folder(opt, "B")
        self.A_paths = make_dataset(self.dir_A, opt.max_dataset_size)
        self.B_paths = make_dataset(self.dir_B, opt.max_dataset_size)
        self.A_size = len(self.A_paths)
        self.B_size = len(self.B_paths)
        self.transform_A = get_transform(opt, grayscale=self.grayscale("A"))
        self.transform_B = get_transform(opt, grayscale=self.grayscale("B"))

    def __getitem__(self, index: int) -> Dict[str, Any]:
        A_path = self.A_paths[index % self.A_size]
        if self.opt.serial_batches:
            index_B = index % self.B_size
        else:
            index_B = random.randint(0, self.B_size - 1)
        B_path = self.B_paths[index_B]
        A = self.apply(self.transform_A, load_image(A_path, "RGB"), A_path)
        B = self.apply(self.transform_B, load_image(B_path, "RGB"), B_path)
        return {"A": A, "B": B, "A_paths": A_path, "B_paths": B_path}

    @staticmethod
    def side_folder(opt: argparse.Namespace, side: str) -> str:
        """``--dirA`` / ``--dirB`` (checked here, so a wrong name is reported with its flag) or ``{phase}A/B``."""
        given: Optional[str] = getattr(opt, f"dir{side}", None)
        if not given:
            return os.path.join(opt.dataroot, opt.phase + side)
        folder = os.path.join(opt.dataroot, given)
        if not os.path.isdir(folder):
            raise UserError(f"--dir{side} {given}: folder {folder} not found (a relative --dir{side} is inside "
                            f"--dataroot)")
        return folder

    def __len__(self) -> int:
        return max(self.A_size, self.B_size)

    def image_folders(self) -> Dict[str, List[str]]:
        return {self.dir_A: self.A_paths, self.dir_B: self.B_paths}
