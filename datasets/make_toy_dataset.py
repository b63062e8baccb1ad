"""Draw two small datasets that need no download and train on a CPU in minutes.

    python datasets/make_toy_dataset.py [--root ./datasets] [--size 64] [--n_train 200] [--n_test 20] [--seed 0]

Domain A is the outline of a random shape (circle, square or triangle; random size, position, rotation and
colour, on white, with a pale wash of the colour inside: --wash); domain B is the shape filled with its colour.
Models visibly learn to fill the outlines.

* ROOT/shapes/{trainA,trainB,testA,testB}: unpaired (CycleGAN); the B images are drawn from shapes
  independent of the A ones.
* ROOT/shapes_paired/{train,val,test}: paired (pix2pix); each image is A|B, the outline and the filled
  version of the same shape, side by side.

The drawing is seeded, so the same flags give the same files. Re-running replaces the files and removes the
numbered images a bigger earlier run left behind.
"""
from __future__ import annotations

import argparse
import colorsys
import math
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from PIL import Image, ImageDraw

from util.cli import run_cli, setup_logging
from datasets.tools import save_image, side_by_side
from util.errors import UserError

KINDS = ("circle", "square", "triangle")
# One random stream per folder, so that changing --n_train leaves the test images unchanged.
STREAMS = {("shapes", "trainA"): 1, ("shapes", "trainB"): 2, ("shapes", "testA"): 3, ("shapes", "testB"): 4,
           ("shapes_paired", "train"): 5, ("shapes_paired", "val"): 6, ("shapes_paired", "test"): 7}
# The inside of an outline gets this much of its colour: a hint of the colour to fill with, which lets the small
# quick-start models learn to fill within two minutes. Up to MAX_WASH the wash stays lighter than ink (some channel
# at 200 or more, see scripts/quickstart_score.py) for every colour random_shape draws (value at least 0.45).
WASH = 0.25
MAX_WASH = 0.39
_NUMBERED = re.compile(r"^\d{4,}\.png$")


class Shape(NamedTuple):
    kind: str
    center: Tuple[float, float]
    radius: float
    angle: float
    color: Tuple[int, int, int]


def random_shape(rng: np.random.RandomState, size: int) -> Shape:
    """A shape that fits inside a ``size`` square with a small margin, in a strong colour dark enough to be ink
    with room to spare (value at most 0.65: every channel at most 166, well below 200), so that a translation a
    shade lighter than its target still counts as ink."""
    kind = KINDS[rng.randint(len(KINDS))]
    radius = size * rng.uniform(0.2, 0.34)
    margin = radius + size * 0.04
    center = (rng.uniform(margin, size - margin), rng.uniform(margin, size - margin))
    hue, saturation, value = rng.uniform(0, 1), rng.uniform(0.7, 1.0), rng.uniform(0.45, 0.65)
    color = tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, saturation, value))
    return Shape(kind, center, radius, rng.uniform(0, 2 * math.pi), color)  # type: ignore[arg-type]


def tint(color: Tuple[int, int, int], strength: float) -> Tuple[int, int, int]:
    """``color`` mixed into white: ``strength`` 0 is white, 1 the colour itself."""
    return tuple(int(round(255 - strength * (255 - c))) for c in color)  # type: ignore[return-value]


def draw(shape: Shape, size: int, filled: bool, wash: float = WASH) -> Image.Image:
    """The shape on white: its outline around a pale wash of its colour (``wash`` = 0: white inside), or the
    shape filled with its colour."""
    img = Image.new("RGB", (size, size), (255, 255, 255))
    pen = ImageDraw.Draw(img)
    width = max(2, size // 24)
    fill = shape.color if filled else (tint(shape.color, wash) if wash > 0 else None)
    cx, cy = shape.center
    if shape.kind == "circle":
        r = shape.radius
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), outline=shape.color, fill=fill, width=width)
    else:
        corners = 4 if shape.kind == "square" else 3
        points = [(cx + shape.radius * math.cos(shape.angle + 2 * math.pi * k / corners),
                   cy + shape.radius * math.sin(shape.angle + 2 * math.pi * k / corners)) for k in range(corners)]
        pen.polygon(points, outline=shape.color, fill=fill, width=width)
    return img


def write_folder(folder: Path, images: Sequence[Image.Image]) -> None:
    """Save ``images`` as 0000.png, 0001.png... and remove numbered images beyond them from an earlier run."""
    names = [f"{i:04d}.png" for i in range(len(images))]
    # each atomic write waits on the disk (fsync, rename): overlap them
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda job: save_image(job[1], folder / job[0]), zip(names, images)))
    kept = set(names)
    for stale in folder.iterdir():
        if _NUMBERED.match(stale.name) and stale.name not in kept:
            stale.unlink()


def make_toy_datasets(root: Path, size: int = 64, n_train: int = 200, n_test: int = 20, seed: int = 0,
                      wash: float = WASH) -> List[str]:
    """Write both datasets under ``root``; return one line per dataset describing what was written."""
    counts = {"train": n_train, "val": n_test, "test": n_test}

    def shapes(dataset: str, folder: str, n: int) -> List[Shape]:
        rng = np.random.RandomState([seed, STREAMS[(dataset, folder)]])
        return [random_shape(rng, size) for _ in range(n)]

    for split in ("train", "test"):
        for side, filled in (("A", False), ("B", True)):
            folder = split + side
            write_folder(root / "shapes" / folder,
                         [draw(s, size, filled, wash) for s in shapes("shapes", folder, counts[split])])
    for split in ("train", "val", "test"):
        write_folder(root / "shapes_paired" / split,
                     [side_by_side(draw(s, size, False, wash), draw(s, size, True))
                      for s in shapes("shapes_paired", split, counts[split])])
    return [f"wrote {root / 'shapes'}: trainA {n_train}, trainB {n_train}, testA {n_test}, testB {n_test} images "
            f"of {size}x{size} (A outlines, B filled shapes, unpaired)",
            f"wrote {root / 'shapes_paired'}: train {n_train}, val {n_test}, test {n_test} images of "
            f"{2 * size}x{size} (A|B: outline | the same shape filled)"]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("./datasets"), help="folder to write shapes/ and "
                        "shapes_paired/ into")
    parser.add_argument("--size", type=int, default=64, help="side of each image (A|B images are twice as wide)")
    parser.add_argument("--n_train", type=int, default=200, help="training images per folder")
    parser.add_argument("--n_test", type=int, default=20, help="test (and val) images per folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawing")
    parser.add_argument("--wash", type=float, default=WASH, help="how much of its colour the inside of an outline "
                        "gets (0: white, a harder task; at most 0.39, lighter than ink)")
    args = parser.parse_args(argv)
    setup_logging()
    if args.size < 16:
        raise UserError(f"--size must be at least 16, got {args.size}")
    for flag in ("n_train", "n_test"):
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    if not 0 <= args.wash <= MAX_WASH:
        raise UserError(f"--wash must be between 0 and {MAX_WASH}, got {args.wash}")
    if args.root.exists() and not args.root.is_dir():
        raise UserError(f"--root {args.root} is not a folder")
    for line in make_toy_datasets(args.root, args.size, args.n_train, args.n_test, args.seed, args.wash):
        print(line)


if __name__ == "__main__":
    run_cli(main)
