"""One domain for inference (``--model test``): the images in ``--dataroot`` itself, or the single image file
that ``--dataroot`` names. No phase sub-folder is used.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List

from data.base_dataset import BaseDataset, get_transform
from data.image_folder import is_image_file, load_image, make_dataset
from util.errors import UserError


class SingleDataset(BaseDataset):
    """``{'A', 'A_paths'}``; A has output_nc channels with ``--direction BtoA``, else input_nc."""

    uses_phase = False

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        if os.path.isfile(opt.dataroot):
            if not is_image_file(opt.dataroot):
                raise UserError(f"--dataroot '{opt.dataroot}' is a file but not an image; give an image file or "
                                f"a folder of images")
            self.dir_A = os.path.dirname(opt.dataroot) or "."
            self.A_paths = [opt.dataroot]
        else:
            self.dir_A = opt.dataroot
            self.A_paths = make_dataset(opt.dataroot, opt.max_dataset_size)
        self.transform = get_transform(opt, grayscale=self.grayscale("A"))

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.A_paths[index]
        return {"A": self.apply(self.transform, load_image(path, "RGB"), path), "A_paths": path}

    def __len__(self) -> int:
        return len(self.A_paths)

    def image_folders(self) -> Dict[str, List[str]]:
        return {self.dir_A: self.A_paths}
