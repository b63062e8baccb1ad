"""Score the quick start's translations by measure: does each fake_B cover the right pixels?

    python scripts/quickstart_score.py --pix2pix results/shapes_pix2pix/test_latest \
        --cyclegan results/shapes_cyclegan/test_latest

The foreground of an image is its pixels that are not the white background: every channel below 200. Each
fake_B's foreground is compared, as intersection over union (IoU), with

* pix2pix: the foreground of its paired target real_B;
* CycleGAN: the region inside the input outline real_A (the outline and everything it encloses), since an
  unpaired model has no target image, only the outline it must fill.

Prints the mean IoU of each model over its test images against the quick start's target, and exits with 1
when a model misses its target.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from data.image_folder import load_image
from util.cli import run_cli, setup_logging
from util.errors import UserError

logger = logging.getLogger("quickstart_score")

FOREGROUND_BELOW = 200  # a pixel with every channel below this is ink, not the white background
PIX2PIX_TARGET = 0.9
CYCLEGAN_TARGET = 0.8


class Score(NamedTuple):
    name: str
    ious: List[float]
    target: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.ious))

    @property
    def reached(self) -> bool:
        return self.mean >= self.target

    def line(self, what: str) -> str:
        verdict = "reached" if self.reached else "MISSED"
        return (f"{self.name}: mean IoU {self.mean:.3f} over {len(self.ious)} test images (lowest "
                f"{min(self.ious):.3f}) of fake_B against {what}: {verdict} the target {self.target}")


def foreground(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels of an HxWx3 uint8 image whose every channel is below FOREGROUND_BELOW."""
    return (rgb < FOREGROUND_BELOW).all(axis=-1)


def filled(mask: np.ndarray) -> np.ndarray:
    """``mask`` plus every pixel it encloses: all that the background, flooded in from the border, cannot reach.

    The flood moves between 4-neighbours, so a one-pixel outline closed only diagonally still holds it back.
    """
    h, w = mask.shape
    canvas = np.zeros((h + 2, w + 2), np.uint8)  # a background frame: the flood starts outside any shape
    canvas[1:-1, 1:-1] = np.where(mask, 255, 0)
    img = Image.fromarray(canvas).copy()  # a copy owns its pixels: floodfill ignores an array-backed image
    ImageDraw.floodfill(img, (0, 0), 128)
    return np.asarray(img)[1:-1, 1:-1] != 128


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks; two empty masks agree fully."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _image(path: Path) -> np.ndarray:
    return np.asarray(load_image(str(path)))


def score_folder(results: Path, target_label: str, target_mask: Callable[[np.ndarray], np.ndarray]) -> List[float]:
    """IoU of every ``*_fake_B.png`` in ``results`` (a test.py results folder) against the mask
    ``target_mask`` makes of the image labelled ``target_label`` beside it."""
    images = results / "images" if (results / "images").is_dir() else results
    fakes = sorted(images.glob("*_fake_B.png"))
    if not fakes:
        raise UserError(f"no *_fake_B.png images in {images}: run test.py for this model first")
    ious = []
    for fake in fakes:
        other = fake.with_name(fake.name[: -len("fake_B.png")] + f"{target_label}.png")
        if not other.exists():
            raise UserError(f"{fake} has no {target_label} image beside it ({other.name})")
        ious.append(iou(foreground(_image(fake)), target_mask(_image(other))))
    return ious


def score_pix2pix(results: Path) -> List[float]:
    """Per-image IoU of fake_B's foreground with that of the paired target real_B."""
    return score_folder(results, "real_B", foreground)


def score_cyclegan(results: Path) -> List[float]:
    """Per-image IoU of fake_B's foreground with the region inside the input outline real_A."""
    return score_folder(results, "real_A", lambda rgb: filled(foreground(rgb)))


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pix2pix", type=Path, help="test.py results folder of the paired model")
    parser.add_argument("--cyclegan", type=Path, help="test.py results folder of the unpaired model")
    args = parser.parse_args(argv)
    setup_logging()
    if args.pix2pix is None and args.cyclegan is None:
        raise UserError("give --pix2pix and/or --cyclegan, a results folder written by test.py")
    lines, missed = [], False
    for folder, name, scorer, target, what in (
            (args.pix2pix, "pix2pix", score_pix2pix, PIX2PIX_TARGET, "the paired target"),
            (args.cyclegan, "CycleGAN", score_cyclegan, CYCLEGAN_TARGET, "the inside of the input outline")):
        if folder is None:
            continue
        if not folder.is_dir():
            raise UserError(f"--{name.lower()} {folder} is not a folder")
        score = Score(name, scorer(folder), target)
        lines.append(score.line(what))
        missed = missed or not score.reached
    for line in lines:
        logger.info(line)
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    run_cli(main)
