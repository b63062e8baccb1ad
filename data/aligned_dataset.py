"""Paired images stored side by side: each file in ``dataroot/phase`` is A (left half) | B (right half).

Both halves get the same crop and flip. A file of odd width loses its last column, so the halves always have
the same size (the reference gave B one column more). ``--direction`` does not move the halves: A is always
the left one; it only decides which of input_nc/output_nc applies to each half (models swap A and B).
A file whose width is not twice its height is probably not a side-by-side pair (its halves would be arbitrary):
the dataset warns once, at start-up, naming the first such file (only the file headers are read for this).
"""
from __future__ import annotations

import argparse
import logging
import os
from typing import Any, Dict, List

from PIL import Image

from data.base_dataset import BaseDataset, Size, get_params, get_transform
from data.image_folder import load_image, make_dataset

logger = logging.getLogger(__name__)


class AlignedDataset(BaseDataset):
    """``{'A', 'B', 'A_paths', 'B_paths'}`` from A|B image files; both paths are the A|B file."""

    pieces = "A and B halves"

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.dir_AB = os.path.join(opt.dataroot, opt.phase)
        self.AB_paths = make_dataset(self.dir_AB, opt.max_dataset_size)
        self.gray_A, self.gray_B = self.grayscale("A"), self.grayscale("B")
        warn_if_not_pairs(self.AB_paths)

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

def warn_if_not_pairs(paths: List[str]) -> None:
    """Warn once when some files are not twice as wide as high (not A|B side by side), naming the first."""
    odd = []
    for path in paths:
        try:
            with Image.open(path) as img:  # reads the header only
                w, h = img.size
        except Exception:  # unreadable: load_image names it when the file is used
            continue
        if w not in (2 * h, 2 * h + 1):
            odd.append((path, w, h))
    if odd:
        path, w, h = odd[0]
        more = f" (and {len(odd) - 1} more file(s))" if len(odd) > 1 else ""
        logger.warning("WARNING: %s is %dx%d, not twice as wide as high%s: the aligned dataset expects A and B side "
                       "by side in one file and splits it into left and right halves", path, w, h, more)
