"""Paired images stored side by side: each file in ``dataroot/phase`` is A (left half) | B (right half).

Both halves get the same crop and flip. A file of odd width loses its last column, so the halves always have
the same size (the reference gave B one column more). ``--direction`` does not move the halves: A is always
the left one; it only decides which of input_nc/output_nc applies to each half (models swap A and B).
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List

from data.base_dataset import BaseDataset, Size, get_params, get_transform
from data.image_folder import load_image, make_dataset


class AlignedDataset(BaseDataset):
    """``{'A', 'B', 'A_paths', 'B_paths'}`` from A|B image files; both paths are the A|B file."""

    pieces = "A and B halves"

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.dir_AB = os.path.join(opt.dataroot, opt.phase)
        self.AB_paths = make_dataset(self.dir_AB, opt.max_dataset_size)
        self.gray_A, self.gray_B = self.grayscale("A"), self.grayscale("B")

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.AB_paths[index]
        AB = load_image(path, "RGB")
        w, h = AB.size
        half = w // 2
        A = AB.crop((0, 0, half, h))
        B = AB.crop((half, 0, 2 * half, h))
        params = get_params(self.opt, A.size)
        A = self.apply(get_transform(self.opt, params, grayscale=self.gray_A), A, path)
        B = self.apply(get_transform(self.opt, params, grayscale=self.gray_B), B, path)
        return {"A": A, "B": B, "A_paths": path, "B_paths": path}

    def __len__(self) -> int:
        return len(self.AB_paths)

    def image_folders(self) -> Dict[str, List[str]]:
        return {self.dir_AB: self.AB_paths}

    def piece_size(self, size: Size) -> Size:
        return size[0] // 2, size[1]

    def file_problems(self, path: str, size: Size, mode: str) -> List[str]:
        if size[0] % 2:
            return [f"'{path}': width {size[0]} is odd, so its A and B halves differ in size (A|B images need an "
                    f"even width)"]
        return []
