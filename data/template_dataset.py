"""A dataset mode to copy when adding your own: ``--dataset_mode foo`` loads ``data/foo_dataset.py`` and its
class ``FooDataset`` (a BaseDataset subclass).

To add one:
1. copy this file to ``data/foo_dataset.py`` and rename the class to ``FooDataset``;
2. add flags or change defaults in ``modify_commandline_options`` (they appear in ``--help``);
3. list your files in ``__init__`` with ``make_dataset`` and build transforms with ``get_transform``;
4. return a dict from ``__getitem__`` with what your model's ``set_input`` reads, and the length from ``__len__``.

As a working example it reads the images of ``dataroot/phase`` and returns each one as both A (input_nc
channels) and B (output_nc channels) with the same crop and flip, so ``--model template`` learns an identity
(or, with ``--input_nc 1``, gray to colour) mapping on any folder of images.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List

from data.base_dataset import BaseDataset, get_params, get_transform
from data.image_folder import load_image, make_dataset


class TemplateDataset(BaseDataset):
    """``{'A', 'B', 'A_paths', 'B_paths'}``: the same image as input and target."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.add_argument("--new_dataset_option", type=float, default=1.0,
                            help="an example flag; read it as opt.new_dataset_option")
        parser.set_defaults(max_dataset_size=10, new_dataset_option=2.0)
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.dir = os.path.join(opt.dataroot, opt.phase)
        self.paths = make_dataset(self.dir, opt.max_dataset_size)
        self.gray_A, self.gray_B = self.grayscale("A"), self.grayscale("B")

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.paths[index]
        img = load_image(path, "RGB")
        params = get_params(self.opt, img.size)
        A = self.apply(get_transform(self.opt, params, grayscale=self.gray_A), img, path)
        B = self.apply(get_transform(self.opt, params, grayscale=self.gray_B), img, path)
        return {"A": A, "B": B, "A_paths": path, "B_paths": path}

    def __len__(self) -> int:
        return len(self.paths)

    def image_folders(self) -> Dict[str, List[str]]:
        return {self.dir: self.paths}
