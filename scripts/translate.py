"""Translate a photo, or a folder of them, with a trained or exported generator.

    python scripts/translate.py --model checkpoints/a2o/latest_net_G_A.pth --input apple.jpg --output orange.jpg
    python scripts/translate.py --model apple2orange_latest_net_G_A.pt --input photos/ --output oranges/
    python scripts/translate.py --model apple2orange_latest_net_G_A.onnx --input apple.jpg --output orange.png

``--model`` is a ``.pth`` checkpoint (its architecture from the flags, else from the ``train_opt.txt`` of the run
folder it sits in, else from its keys), a TorchScript ``.pt`` or an ``.onnx`` file written by scripts/export.py
(architecture from the file's metadata; ONNX needs ``pip install onnxruntime`` and runs on the CPU). Each result
has its input's width and height: the image is padded to the generator's size multiple and cropped back.

A folder ``--input`` is read recursively and mirrored into the ``--output`` folder as PNG files (lossless); a
single image goes to the ``--output`` file, in the format its suffix names, or into ``--output`` when that is
an existing folder. An ``--output`` that would overwrite an input (the photo itself, a folder inside the
``--input`` folder) is refused.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from PIL import Image

from data.image_folder import is_image_file, load_image, make_dataset
from models.architectures import GENERATOR_FLAGS
from models.inference import Translator, add_generator_flags
from models.tiling import DEFAULT_TILE_OVERLAP
from util.cli import run_cli, setup_logging
from util.device import resolve_device
from util.errors import UserError
from util.util import save_image

logger = logging.getLogger("translate")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Translate images with a .pth, TorchScript .pt or .onnx generator.")
    parser.add_argument("--model", required=True, help="generator file: .pth, .pt (TorchScript) or .onnx")
    parser.add_argument("--input", required=True, help="an image, or a folder of images (read recursively)")
    parser.add_argument("--output", required=True,
                        help="the result file (an image input) or folder (a folder input, or an existing folder)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N (.pth and .pt only)")
    parser.add_argument("--tile_size", type=int, default=0,
                        help="translate in overlapping tiles of this many pixels to bound memory (0: whole image)")
    parser.add_argument("--tile_overlap", type=int, default=DEFAULT_TILE_OVERLAP,
                        help="pixels shared by neighbouring tiles (with --tile_size)")
    add_generator_flags(parser)
    return parser.parse_args(argv)


def plan(source: Path, target: Path) -> List[Tuple[Path, Path]]:
    """(input image, result file) pairs; checked before the model is loaded, so a typo costs nothing."""
    if source.is_dir():
        if target.exists() and not target.is_dir():
            raise UserError(f"--output {target} is a file, but --input {source} is a folder: give a folder")
        if source.resolve() in (target.resolve(), *target.resolve().parents):
            raise UserError(f"--output {target} is inside --input {source}: the results would replace the photos "
                            f"or be read as photos next time; give a folder outside it")
        try:
            photos = make_dataset(str(source))
        except UserError:  # its message names the training flags
            raise UserError(f"--input {source} holds no images (.jpg, .png, ...) in it or its sub-folders") from None
        return [(Path(p), (target / Path(p).relative_to(source)).with_suffix(".png")) for p in photos]
    if not source.is_file():
        raise UserError(f"--input {source} not found")
    if not is_image_file(source.name):
        raise UserError(f"--input {source} is not an image file (.jpg, .png, ...)")
    if target.is_dir():
        target = target / f"{source.stem}.png"
    elif Image.registered_extensions().get(target.suffix.lower()) is None:
        raise UserError(f"--output {target}: cannot tell the image format from its suffix (use .png or .jpg)")
    if target.resolve() == source.resolve():
        raise UserError(f"--output {target} is the --input image: give another file name")
    return [(source, target)]


def main(argv: Optional[Sequence[str]] = None) -> None:
    opt = parse_args(argv)
    setup_logging()
    jobs = plan(Path(opt.input), Path(opt.output))
    flags = {name: getattr(opt, name) for name in GENERATOR_FLAGS}
    translator = Translator.from_file(opt.model, resolve_device(opt.device, "--device"), **flags)
    for source, target in jobs:
        result = translator(load_image(str(source), "RGB"), tile=opt.tile_size, overlap=opt.tile_overlap)
        save_image(result, target)
        logger.info("%s -> %s (%dx%d)", source, target, *result.size)
    logger.info("translated %d image(s) with %s", len(jobs), opt.model)


if __name__ == "__main__":
    run_cli(main)
