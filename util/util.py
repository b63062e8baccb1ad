"""Turn network outputs into viewable images and save them.

Differences from the reference, on purpose: values are rounded and clipped to [0, 255] instead of truncated
and wrapped around, every item of a batch can be converted (``tensor2ims``), two-channel images can be shown,
``save_image`` stretches to the requested aspect ratio (the reference swapped width and height), and it is the
one writer of image files (results pages, training pages and the dataset tools).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

import numpy as np
from PIL import Image

from util.fileio import PathLike, atomic_write, mkdirs

__all__ = ["tensor2im", "tensor2ims", "same_size", "save_image", "mkdirs"]


def _to_rgb(chw: np.ndarray) -> np.ndarray:
    """C x H x W floats in [-1, 1] -> H x W x 3 in [-1, 1]: gray is tiled, two channels fill red and green."""
    channels = chw.shape[0]
    if channels == 1:
        chw = np.repeat(chw, 3, axis=0)
    elif channels == 2:  # e.g. two feature maps: red and green, no blue
        chw = np.concatenate([chw, np.full_like(chw[:1], -1.0)], axis=0)
    elif channels > 3:
        chw = chw[:3]
    return np.transpose(chw, (1, 2, 0))


def tensor2im(input_image: Any, imtype: type = np.uint8) -> np.ndarray:
    """First image of a batch (or a single C x H x W image) in [-1, 1] -> H x W x 3 array of ``imtype``.

    Values map to ((x + 1) / 2) * 255, rounded and clipped to [0, 255]. A numpy array is taken as an image
    already and only cast (a 2-D one is made RGB).
    """
    if isinstance(input_image, np.ndarray):
        image = input_image
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        return image.astype(imtype)
    import torch  # here, not at the top: the dataset tools save images with this module and start without torch

    if not isinstance(input_image, torch.Tensor):
        raise TypeError(f"tensor2im expects a tensor or a numpy array, got {type(input_image).__name__}")
    tensor = input_image.detach()
    if tensor.dim() == 4:
        tensor = tensor[0]
    elif tensor.dim() == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 3:
        raise ValueError(f"tensor2im expects N x C x H x W or C x H x W, got shape {tuple(input_image.shape)}")
    rgb = _to_rgb(tensor.float().cpu().numpy())
    return np.clip(np.rint((rgb + 1.0) / 2.0 * 255.0), 0, 255).astype(imtype)


def tensor2ims(batch: Any, imtype: type = np.uint8) -> List[np.ndarray]:
    """Every image of a batch, each converted as ``tensor2im`` converts the first."""
    import torch  # see tensor2im

    if isinstance(batch, torch.Tensor) and batch.dim() == 4:
        return [tensor2im(batch[i], imtype) for i in range(batch.shape[0])]
    if isinstance(batch, np.ndarray) and batch.ndim == 4:
        return [tensor2im(item, imtype) for item in batch]
    return [tensor2im(batch, imtype)]


# Images are written once and looked at or read many times: JPEG as close to lossless as it goes, WebP lossless.
SAVE_OPTIONS: Dict[str, Dict[str, Any]] = {"JPEG": {"quality": 100, "subsampling": 0}, "WEBP": {"lossless": True}}


def save_image(image: Union[np.ndarray, Image.Image], image_path: PathLike, aspect_ratio: float = 1.0) -> None:
    """Write an H x W x C uint8 array or a PIL image atomically, in the format the file suffix names.

    ``aspect_ratio`` > 1 widens the image, < 1 makes it taller; an unknown suffix is a ValueError.
    """
    if aspect_ratio <= 0:
        raise ValueError(f"aspect_ratio must be positive, got {aspect_ratio}")
    fmt = Image.registered_extensions().get(Path(image_path).suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the image format of {image_path}")
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.ascontiguousarray(image))
    width, height = image.size
    if aspect_ratio > 1.0:
        image = image.resize((max(1, round(width * aspect_ratio)), height), Image.BICUBIC)
    elif aspect_ratio < 1.0:
        image = image.resize((width, max(1, round(height / aspect_ratio))), Image.BICUBIC)
    atomic_write(image_path, lambda f: image.save(f, format=fmt, **SAVE_OPTIONS.get(fmt, {})))


def same_size(images: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Resize every H x W x C image to the first one's size (bicubic) so they can share a grid."""
    height, width = images[0].shape[:2]
    return [im if im.shape[:2] == (height, width)
            else np.asarray(Image.fromarray(im).resize((width, height), Image.BICUBIC)) for im in images]
