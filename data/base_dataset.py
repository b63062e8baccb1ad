"""The dataset base class and the image pre-processing shared by every dataset mode.

``--preprocess`` picks the geometry (PREPROCESS_CHOICES, the one list of them): ``resize_and_crop`` (square
load_size, then a crop_size crop), ``crop`` (crop only), ``scale_width`` (width to load_size, height kept in
proportion but at least crop_size), ``scale_width_and_crop`` (that, then a crop), ``scale_shortside`` (the
shorter side to load_size, the aspect ratio kept: paintings that are not square), ``scale_shortside_and_crop``
(that, then a crop) and ``none``. Without a crop (``none``, ``scale_width``, ``scale_shortside``) each side is
then rounded to the nearest multiple of 4, because the generators halve the size twice and a ResNet generator
fails on other sizes (the reference did this for ``none`` only).

A crop never pads: an image smaller than ``--crop_size`` when the crop is taken raises ImageTooSmallError
naming the file and the flag (the reference padded black in aligned mode and failed with an unnamed error in
unaligned mode). Random choices (crop position, flip) use Python's ``random``; train.py seeds it with
``--seed`` and PyTorch seeds it in each DataLoader worker, so a run is repeatable.
"""
from __future__ import annotations

import argparse
import logging
import random
import threading
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.utils.data as data
from torch.utils.data import default_collate
import torchvision.transforms as transforms
from PIL import Image
from torchvision.transforms import InterpolationMode

from util.errors import UserError

logger = logging.getLogger(__name__)

Size = Tuple[int, int]
Params = Dict[str, Any]
Method = Union[InterpolationMode, int]

_PIL_METHODS = {
    InterpolationMode.NEAREST: Image.Resampling.NEAREST,
    InterpolationMode.BILINEAR: Image.Resampling.BILINEAR,
    InterpolationMode.BICUBIC: Image.Resampling.BICUBIC,
    InterpolationMode.BOX: Image.Resampling.BOX,
    InterpolationMode.HAMMING: Image.Resampling.HAMMING,
    InterpolationMode.LANCZOS: Image.Resampling.LANCZOS,
}
_SIZE_BASE = 4
PREPROCESS_CHOICES = ["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "scale_shortside",
                      "scale_shortside_and_crop", "none"]
_SIZE_NOTICE_GIVEN = threading.Event()


class ImageTooSmallError(UserError):
    """An image is smaller than ``--crop_size`` at the point where it is cropped."""


class BaseDataset(data.Dataset, ABC):
    """A dataset mode: ``--dataset_mode foo`` loads ``data/foo_dataset.py`` and its class ``FooDataset``.

    Subclasses set their image lists in ``__init__`` (raising a UserError for a missing folder) and return one
    sample dict from ``__getitem__``. scripts/check_dataset.py asks them what to check: ``image_folders``, and
    the hooks below, which a mode overrides where its files are special.
    """

    uses_phase: ClassVar[bool] = True  # whether --phase picks the folder that is read
    pieces: ClassVar[Optional[str]] = None  # what one file holds when it is not one image ("A and B halves")

    def __init__(self, opt: argparse.Namespace) -> None:
        self.opt = opt
        self.root = opt.dataroot

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add dataset-specific flags or change defaults; called while the options are parsed."""
        return parser

    @abstractmethod
    def __len__(self) -> int:
        """Number of samples in one epoch."""

    @abstractmethod
    def __getitem__(self, index: int) -> Dict[str, Any]:
        """One sample: tensors in [-1, 1] and the paths they came from."""

    def image_folders(self) -> Dict[str, List[str]]:
        """{folder: its image paths} for every folder this dataset reads; empty when it reads no files."""
        return {}

    def piece_size(self, size: Size) -> Size:
        """The size each image that a file of ``size`` holds has before ``--preprocess`` (see ``pieces``)."""
        return size

    def file_problems(self, path: str, size: Size, mode: str) -> List[str]:
        """Why this mode cannot train on a readable file of ``size`` and PIL ``mode`` (one line each)."""
        return []

    def folder_warnings(self, folder: str, modes: Mapping[str, int]) -> List[str]:
        """Warnings about a folder as a whole, from the count of its files per PIL mode."""
        return []

    def grayscale(self, side: str) -> bool:
        """Whether side ``'A'`` or ``'B'`` is read as 1 gray channel (else 3 RGB channels).

        A gets input_nc channels and B output_nc, swapped by ``--direction BtoA``. Images are read as RGB, so
        no other channel count can be delivered.
        """
        flag = "input_nc" if (side == "A") != (self.opt.direction == "BtoA") else "output_nc"
        value = getattr(self.opt, flag)
        if value not in (1, 3):
            raise UserError(f"--{flag} {value}: {type(self).__name__} gives images with 1 (gray) or 3 (RGB) "
                            f"channels")
        return value == 1

    @staticmethod
    def apply(transform: Callable[[Image.Image], Any], img: Image.Image, path: str) -> Any:
        """``transform(img)``; a crop that does not fit gets the file name added to its message."""
        try:
            return transform(img)
        except ImageTooSmallError as err:
            raise ImageTooSmallError(f"'{path}': {err}") from None


def check_size_options(opt: argparse.Namespace, multiple: int = 1) -> None:
    """The one check of ``--load_size`` / ``--crop_size``, before any image is read.

    The crop must fit in the size images are scaled to, and where the flags fix a side of the images that
    reach the network (the crop; the width of ``scale_width``), it must be a multiple of ``multiple``, the
    generator's size multiple. Other sides depend on each image (``none``, the heights of ``scale_width``):
    ``check_input_size`` checks them batch by batch.
    """
    if opt.preprocess in ("resize_and_crop", "scale_width_and_crop", "scale_shortside_and_crop") \
            and opt.crop_size > opt.load_size:
        raise UserError(f"--crop_size {opt.crop_size} is larger than --load_size {opt.load_size}: with "
                        f"--preprocess {opt.preprocess} images are scaled to load_size before the crop")
    needs = _generator_needs(opt)
    if "crop" in opt.preprocess:
        if opt.crop_size % multiple:
            raise UserError(f"--crop_size {opt.crop_size}: {needs} inputs whose sides are multiples of {multiple}; "
                            f"use --crop_size {_nearest_multiple(opt.crop_size, multiple)}")
    elif opt.preprocess in ("scale_width", "scale_shortside"):
        side = multiple_of_size((opt.load_size, opt.load_size))[0] if _rounds_to_multiple(opt) else opt.load_size
        fixed = "wide" if opt.preprocess == "scale_width" else "on their shorter side"
        if side % multiple:
            raise UserError(f"--load_size {opt.load_size}: with --preprocess {opt.preprocess} images are {side} px "
                            f"{fixed}, but {needs} inputs whose sides are multiples of {multiple}; use --load_size "
                            f"{_nearest_multiple(side, multiple)}")


def check_input_size(batch: Mapping[str, Any], opt: argparse.Namespace, multiple: int) -> None:
    """The sides that ``check_size_options`` cannot check before any image is read: those that depend on each
    image, which only the modes without a crop have (``none``, the heights of ``scale_width``...).

    Called on each batch (or one sample) before it reaches the network (it reads tensor shapes only), so that
    an image the generator cannot take stops the run with one line naming the file instead of a shape error
    deep inside it.
    """
    for key, value in batch.items():
        if torch.is_tensor(value) and value.dim() >= 3:
            problem = input_size_problem((value.shape[-1], value.shape[-2]), opt, multiple)
            if problem is not None:
                raise UserError(f"'{_path_of(batch, key)}' {problem}")


def input_size_problem(size: Size, opt: argparse.Namespace, multiple: int) -> Optional[str]:
    """Why the generator cannot take an image that ``--preprocess`` made ``size`` (w, h); None when it can."""
    if multiple <= 1 or "crop" in opt.preprocess or not (size[0] % multiple or size[1] % multiple):
        return None
    return (f"is {size[0]}x{size[1]} after --preprocess {opt.preprocess}, but {_generator_needs(opt)} inputs whose "
            f"sides are multiples of {multiple}; use a --preprocess that crops (a --crop_size multiple of "
            f"{multiple}) or resize the images")


def collate(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    """PyTorch's default batching, except that images of different sizes in one batch (possible only without a
    crop) stop the run with one line naming two of them, instead of a stacking error."""
    try:
        return default_collate(samples)
    except RuntimeError:
        sizes: Dict[Tuple[int, int], str] = {}
        for sample in samples:
            for key, value in sample.items():
                if torch.is_tensor(value) and value.dim() >= 3:
                    sizes.setdefault((value.shape[-1], value.shape[-2]), _path_of(sample, key))
        if len(sizes) < 2:
            raise
        (first, a), (second, b) = list(sizes.items())[:2]
        raise UserError(f"'{a}' is {first[0]}x{first[1]} but '{b}' is {second[0]}x{second[1]} after --preprocess, "
                        f"and a batch needs images of one size; use --batch_size 1 or a --preprocess that "
                        f"crops") from None


def _path_of(batch: Mapping[str, Any], key: str) -> str:
    """The file that the image ``key`` of a sample (or the first of a batch) came from."""
    paths = batch.get(f"{key}_paths", batch.get("path", "?"))
    return paths[0] if isinstance(paths, (list, tuple)) else paths


def _generator_needs(opt: argparse.Namespace) -> str:
    netG = getattr(opt, "netG", None)
    return f"--netG {netG} needs" if netG else "the generator needs"


def _nearest_multiple(value: int, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def scale_width_size(size: Size, target_width: int, crop_size: int) -> Size:
    """Size after ``scale_width``: width = target_width, height in proportion but at least crop_size."""
    w, h = size
    if w == target_width and h >= crop_size:
        return size
    return target_width, int(max(target_width * h / w, crop_size))


def scale_shortside_size(size: Size, target: int) -> Size:
    """Size after ``scale_shortside``: the shorter side = target, the longer one in proportion (rounded)."""
    w, h = size
    scale = target / min(w, h)
    return (target, max(1, round(h * scale))) if w <= h else (max(1, round(w * scale)), target)


def multiple_of_size(size: Size, base: int = _SIZE_BASE) -> Size:
    """Each side rounded to the nearest multiple of ``base`` (never below ``base``)."""
    return tuple(max(base, int(round(s / base) * base)) for s in size)  # type: ignore[return-value]


def pre_crop_size(opt: argparse.Namespace, size: Size) -> Size:
    """Size of an image of ``size`` after the resize/scale step of ``--preprocess``, before any crop."""
    if "resize" in opt.preprocess:
        return opt.load_size, opt.load_size
    if "scale_width" in opt.preprocess:
        return scale_width_size(size, opt.load_size, opt.crop_size)
    if "scale_shortside" in opt.preprocess:
        return scale_shortside_size(size, opt.load_size)
    return size


def output_size(opt: argparse.Namespace, size: Size) -> Size:
    """Size of the tensor that an image of ``size`` becomes (ImageTooSmallError if the crop cannot fit)."""
    size = pre_crop_size(opt, size)
    if "crop" in opt.preprocess:
        if min(size) < opt.crop_size:
            raise ImageTooSmallError(_too_small(size, opt.crop_size, opt.preprocess))
        return opt.crop_size, opt.crop_size
    if _rounds_to_multiple(opt):
        return multiple_of_size(size)
    return size


def get_params(opt: argparse.Namespace, size: Size) -> Params:
    """Random crop position and flip for an image of ``size``; pass to get_transform to reuse them (A and B)."""
    new_w, new_h = pre_crop_size(opt, size)
    x = random.randint(0, max(0, new_w - opt.crop_size))
    y = random.randint(0, max(0, new_h - opt.crop_size))
    flip = random.random() > 0.5
    return {"crop_pos": (x, y), "flip": flip}


def scale_and_crop_steps(opt: argparse.Namespace, crop_pos: Optional[Tuple[int, int]],
                         interpolation: InterpolationMode,
                         height_floor: Optional[int] = None) -> List[Callable[[Any], Any]]:
    """The scaling and cropping of ``--preprocess`` (every dataset mode's geometry starts with these).

    ``height_floor``: the least height ``scale_width`` gives; the reference's CycleGAN/pix2pix stretch a lower
    one up to ``--crop_size`` (None, the default), pix2pixHD keeps the aspect ratio (0).
    """
    steps: List[Callable[[Any], Any]] = []
    if "resize" in opt.preprocess:
        steps.append(transforms.Resize([opt.load_size, opt.load_size], interpolation=interpolation))
    elif "scale_width" in opt.preprocess:
        floor = opt.crop_size if height_floor is None else height_floor
        steps.append(ScaleWidth(opt.load_size, floor, interpolation))
    elif "scale_shortside" in opt.preprocess:
        steps.append(ScaleShortside(opt.load_size, interpolation))
    if "crop" in opt.preprocess:
        steps.append(Crop(opt.crop_size, opt.preprocess, crop_pos))
    return steps


def get_transform(opt: argparse.Namespace, params: Optional[Params] = None, grayscale: bool = False,
                  method: Method = InterpolationMode.BICUBIC, convert: bool = True) -> transforms.Compose:
    """The pre-processing chain of ``--preprocess``, flip and (if ``convert``) a tensor in [-1, 1].

    Without ``params`` the crop position and flip are drawn for each image; with them they are fixed.
    """
    interpolation = _interpolation_mode(method)
    steps: List[Callable[[Any], Any]] = []
    if grayscale:
        steps.append(transforms.Grayscale(1))
    steps += scale_and_crop_steps(opt, None if params is None else params["crop_pos"], interpolation)
    if _rounds_to_multiple(opt):
        steps.append(MultipleOf(_SIZE_BASE, interpolation))
    if not opt.no_flip:
        steps.append(Flip(None if params is None else params["flip"]))
    if convert:
        channels = 1 if grayscale else 3
        steps += [transforms.ToTensor(), transforms.Normalize((0.5,) * channels, (0.5,) * channels)]
    return transforms.Compose(steps)


class ScaleWidth:
    """Resize to ``target_width`` wide, keeping the aspect ratio, but never below ``crop_size`` high."""

    def __init__(self, target_width: int, crop_size: int, method: InterpolationMode) -> None:
        self.target_width, self.crop_size, self.method = target_width, crop_size, _PIL_METHODS[method]

    def __call__(self, img: Image.Image) -> Image.Image:
        size = scale_width_size(img.size, self.target_width, self.crop_size)
        return img if size == img.size else img.resize(size, self.method)


class ScaleShortside:
    """Resize so that the shorter side is ``target``, keeping the aspect ratio (a 300x200 painting at 128
    becomes 192x128)."""

    def __init__(self, target: int, method: InterpolationMode) -> None:
        self.target, self.method = target, _PIL_METHODS[method]

    def __call__(self, img: Image.Image) -> Image.Image:
        size = scale_shortside_size(img.size, self.target)
        return img if size == img.size else img.resize(size, self.method)


class Crop:
    """A ``size`` x ``size`` crop at ``pos`` (x, y), or at a random position when ``pos`` is None."""

    def __init__(self, size: int, preprocess: str, pos: Optional[Tuple[int, int]] = None) -> None:
        self.size, self.preprocess, self.pos = size, preprocess, pos

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if w < self.size or h < self.size:
            raise ImageTooSmallError(_too_small(img.size, self.size, self.preprocess))
        if self.pos is None:
            x, y = random.randint(0, w - self.size), random.randint(0, h - self.size)
        else:  # clamp: the position may come from the other half of an A|B image, which can be 1 px wider
            x, y = min(self.pos[0], w - self.size), min(self.pos[1], h - self.size)
        if (x, y, w, h) == (0, 0, self.size, self.size):
            return img
        return img.crop((x, y, x + self.size, y + self.size))


class MultipleOf:
    """Round each side to the nearest multiple of ``base``, logging once per process that it happens."""

    def __init__(self, base: int, method: InterpolationMode) -> None:
        self.base, self.method = base, _PIL_METHODS[method]

    def __call__(self, img: Image.Image) -> Image.Image:
        size = multiple_of_size(img.size, self.base)
        if size == img.size:
            return img
        _warn_size_adjusted(img.size, size)
        return img.resize(size, self.method)


class Flip:
    """Mirror left-right: always/never when ``flip`` is given, else with probability 1/2."""

    def __init__(self, flip: Optional[bool] = None) -> None:
        self.flip = flip

    def __call__(self, img: Image.Image) -> Image.Image:
        flip = random.random() < 0.5 if self.flip is None else self.flip
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else img


def _rounds_to_multiple(opt: argparse.Namespace) -> bool:
    """Modes without a crop round sides to a multiple of 4, except with the test model's --keep_size."""
    return opt.preprocess in ("none", "scale_width", "scale_shortside") and not getattr(opt, "keep_size", False)


def _interpolation_mode(method: Method) -> InterpolationMode:
    """Accept torchvision modes and PIL constants alike (the reference used both over the years)."""
    if isinstance(method, InterpolationMode):
        return method
    for mode, pil in _PIL_METHODS.items():
        if pil == method:
            return mode
    raise ValueError(f"unsupported interpolation method {method!r}")


def _too_small(size: Size, crop_size: int, preprocess: str) -> str:
    return (f"image is {size[0]}x{size[1]} after --preprocess {preprocess}, smaller than --crop_size {crop_size}; "
            f"lower --crop_size or use --preprocess resize_and_crop or scale_width_and_crop")


def _warn_size_adjusted(old: Size, new: Size) -> None:
    """The reference's notice, given once per process (the event is the only state this module keeps)."""
    if _SIZE_NOTICE_GIVEN.is_set():
        return
    _SIZE_NOTICE_GIVEN.set()
    logger.warning("The image size needs to be a multiple of %d. The loaded image size was (%d, %d), so it was "
                   "adjusted to (%d, %d). This adjustment will be done to all images whose sizes are not "
                   "multiples of %d", _SIZE_BASE, old[0], old[1], new[0], new[1], _SIZE_BASE)
