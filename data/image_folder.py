"""Finding and opening the image files of a dataset.

``make_dataset`` lists a folder recursively in fully sorted order and only then keeps the first
``max_dataset_size`` paths, so the subset a run uses is the same on every machine (the reference truncated in
file-system order). Hidden files and folders (names starting with ``.``, such as macOS ``._x.jpg`` companions
or ``.ipynb_checkpoints``) are skipped: they are never training images and often are not images at all.
Every dataset opens its files through ``load_image`` so that an unreadable file stops the run with one line
naming it.
"""
from __future__ import annotations

import os
from typing import List, Optional

from PIL import Image

from util.errors import ImageReadError, UserError

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

    Any failure (missing, truncated, not an image, too large) becomes ImageReadError naming the file.
    """
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert(mode) if mode is not None else img.copy()
    except Image.UnidentifiedImageError:
        reason = "not an image file in a format Pillow can read"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
    raise ImageReadError(f"cannot read image '{path}': {reason}")
