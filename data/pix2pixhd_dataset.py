"""pix2pixHD's folder layout: ``{phase}_label``, ``{phase}_inst``, ``{phase}_img`` (and ``{phase}_feat``).

With ``--label_nc 0`` the input is an RGB image and the folders are ``{phase}_A`` / ``{phase}_B``. Files are
paired by their position in each folder's sorted listing (Cityscapes names differ by suffix only), and the
folders must hold the same number of files. Images are optional at test time (label-only test sets); they
are read when present. Items have the reference's keys ``label``, ``inst``, ``image``, ``feat``, ``path``;
label and instance maps are N x 1 x H x W int64 id maps, resized with nearest neighbours; 16-bit instance
PNGs are read unsigned (the reference's int16 read made Cityscapes ids from 32768 up negative).
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Callable, Dict, List

import numpy as np
import torch
import torchvision.transforms as transforms
from PIL import Image
from torchvision.transforms import InterpolationMode

from data.base_dataset import BaseDataset, Flip, get_params, multiple_of_size, scale_and_crop_steps
from data.image_folder import load_image, make_dataset
from util.errors import UserError

LABEL_MODES = ("L", "P", "I", "I;16")


class Pix2PixHDDataset(BaseDataset):
    """Label maps, instance maps, photos and precomputed features of one phase, paired by sorted position."""

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        if not hasattr(opt, "label_nc"):
            raise UserError("--dataset_mode pix2pixhd goes with --model pix2pixhd")
        rgb_input = opt.label_nc == 0
        self.folders: Dict[str, str] = {}
        self.paths: Dict[str, List[str]] = {}
        self.add_folder("label", "A" if rgb_input else "label", required=True)
        if not opt.no_instance:
            self.add_folder("inst", "inst", required=True)
        needs_image = opt.isTrain or getattr(opt, "use_encoded_image", False)
        self.add_folder("image", "B" if rgb_input else "img", required=needs_image)
        if opt.load_features:
            self.add_folder("feat", "feat", required=True)
        count = len(self.paths["label"])
        for key, paths in self.paths.items():
            if len(paths) != count:
                raise UserError(f"{self.folders[key]} holds {len(paths)} images but {self.folders['label']} holds "
                                f"{count}; files are paired by sorted position, so the folders must match")
        self.multiple = opt.size_multiple  # the generator's and encoder's, set by the options

    def add_folder(self, key: str, suffix: str, required: bool) -> None:
        folder = os.path.join(self.opt.dataroot, f"{self.opt.phase}_{suffix}")
        if not required and not os.path.isdir(folder):
            return
        self.folders[key] = folder
        self.paths[key] = make_dataset(folder, self.opt.max_dataset_size)

    def __len__(self) -> int:
        return len(self.paths["label"])

    def transform(self, params: Dict[str, Any], method: InterpolationMode) -> Callable[[Image.Image], Image.Image]:
        """The geometry of ``--preprocess`` with the same crop and flip for every map of an item.

        Without a crop the sides are rounded to a multiple of the generator's (2^downsamplings), which the
        reference did for ``none`` only: its generator's (and encoder's) output does not line up with
        other sizes.
        """
        opt = self.opt
        # scale_width keeps the aspect ratio (2048x1024 at --loadSize 512 is 512x256), as pix2pixHD's reference
        # does; only a crop that follows needs the height to reach --fineSize
        floor = opt.crop_size if "crop" in opt.preprocess else 0
        steps = scale_and_crop_steps(opt, params["crop_pos"], method, height_floor=floor)
        if "crop" not in opt.preprocess:
            steps.append(RoundToMultiple(self.multiple, method))
        if opt.isTrain and not opt.no_flip:
            steps.append(Flip(params["flip"]))
        return transforms.Compose(steps)

    def read_ids(self, path: str, params: Dict[str, Any]) -> torch.Tensor:
        """A 1 x H x W int64 id map from an 8- or 16-bit single-channel PNG (unsigned), resized nearest."""
        img = load_image(path, mode=None)
        if img.mode not in LABEL_MODES:
            raise UserError(f"'{path}' is a {img.mode} image; label and instance maps must be single-channel "
                            f"id maps (8 or 16 bit)")
        if img.mode != "L":
            img = img.convert("I")  # 32-bit signed holds every 16-bit id without wrapping
        img = self.apply(self.transform(params, InterpolationMode.NEAREST), img, path)
        return torch.from_numpy(np.asarray(img, dtype=np.int64).copy())[None]

    def read_rgb(self, path: str, params: Dict[str, Any], method: InterpolationMode) -> torch.Tensor:
        img = self.apply(self.transform(params, method), load_image(path, "RGB"), path)
        return transforms.Normalize((0.5,) * 3, (0.5,) * 3)(transforms.functional.to_tensor(img))

    def __getitem__(self, index: int) -> Dict[str, Any]:
        label_path = self.paths["label"][index]
        with Image.open(label_path) as probe:
            size = probe.size
        params = get_params(self.opt, size)
        item: Dict[str, Any] = {"path": label_path, "inst": 0, "image": 0, "feat": 0}
        if self.opt.label_nc == 0:
            item["label"] = self.read_rgb(label_path, params, InterpolationMode.BICUBIC)
        else:
            item["label"] = self.read_ids(label_path, params)
        if "inst" in self.paths:
            item["inst"] = self.read_ids(self.paths["inst"][index], params)
        if "image" in self.paths:
            item["image"] = self.read_rgb(self.paths["image"][index], params, InterpolationMode.BICUBIC)
        if "feat" in self.paths:
            item["feat"] = self.read_rgb(self.paths["feat"][index], params, InterpolationMode.NEAREST)
        return item

    def image_folders(self) -> Dict[str, List[str]]:
        return {self.folders[key]: paths for key, paths in self.paths.items()}



class RoundToMultiple:
    """Resize so that each side is the nearest multiple of ``base`` (no-op when it already is)."""

    def __init__(self, base: int, method: InterpolationMode) -> None:
        self.base, self.method = base, method

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = multiple_of_size(img.size, self.base)
        return img if (w, h) == img.size else transforms.functional.resize(img, [h, w], interpolation=self.method)
