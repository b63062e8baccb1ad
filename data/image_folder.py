"""Finding and opening the image files of a dataset.

``make_dataset`` lists a folder recursively in fully sorted order and only then keeps the first
``max_dataset_size`` paths, so the subset a run uses is the same on every machine (the reference truncated in
file-system order). Hidden files and folders (names starting with ``.``, such as macOS ``._x.jpg`` companions
or ``.ipynb_checkpoints``) are skipped: they are never training images and often are not images at all.
Every dataset opens its files through ``load_image`` so that an unreadable file stops the run with one line
naming it, and so that 16-bit images are scaled to the 8-bit range the transforms expect (Pillow's own
conversion clips them, and a 16-bit PNG or TIFF trains as pure white).
"""
from __future__ import annotations

import os
from typing import List, Optional

import numpy as np
from PIL import Image

from util.errors import ImageReadError, UserError

# Pillow's modes for one channel of more than 8 bits: 16-bit PNG and TIFF open as one of these
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
# Lower- and upper-case spellings, as the reference listed them; ``is_image_file`` accepts any case.
IMG_EXTENSIONS = _SUFFIXES + tuple(s.upper() for s in _SUFFIXES)


def is_image_file(filename: str) -> bool:
    """True when the file name ends with an image extension, in any case (``.JPG``, ``.Png``...)."""
    return filename.lower().endswith(_SUFFIXES)


def make_dataset(dir: str, max_dataset_size: float = float("inf")) -> List[str]:
    """All image paths below ``dir`` (recursively), sorted, then cut to the first ``max_dataset_size``.

    Raises UserError when ``dir`` is not a folder or holds no image.
    """
    if not os.path.isdir(dir):
        raise UserError(f"'{dir}' is not a folder (check --dataroot, --phase and --dataset_mode)")
    paths = []
    for folder, subfolders, files in os.walk(dir, followlinks=True):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        paths.extend(os.path.join(folder, f) for f in files if is_image_file(f) and not f.startswith("."))
    if not paths:
        raise UserError(f"'{dir}' contains no images (looked for {', '.join(_SUFFIXES)} in it and its "
                        f"sub-folders; check --dataroot, --phase and --dataset_mode)")
    paths.sort()
    if max_dataset_size < len(paths):
        paths = paths[: int(max_dataset_size)]
    return paths


def load_image(path: str, mode: Optional[str] = "RGB") -> Image.Image:
    """Open and fully decode ``path``, converted to ``mode`` (None keeps the stored mode).

    A 16-bit single-channel image is scaled from its full range (0-65535) to 8 bits before the conversion.
    Any failure (missing, truncated, not an image, too large) becomes ImageReadError naming the file.
    """
    try:
        with Image.open(path) as img:
            img.load()
            if mode is None:
                return img.copy()
            if img.mode in _WIDE_MODES:
                return _scale_to_8bit(img).convert(mode)
            return img.convert(mode)
    except Image.UnidentifiedImageError:
        reason = "not an image file in a format Pillow can read"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
    raise ImageReadError(f"cannot read image '{path}': {reason}")


def _scale_to_8bit(img: Image.Image) -> Image.Image:
    """A 16-bit grey image as 8-bit grey, 65535 -> 255 (``I`` holds 16-bit data too: PNG/TIFF open as it)."""
    values = np.clip(np.asarray(img, dtype=np.float64), 0, 65535)
    return Image.fromarray(np.rint(values * (255 / 65535)).astype(np.uint8), "L")
