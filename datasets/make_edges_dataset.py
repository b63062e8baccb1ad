"""Make an edges2X aligned dataset from a folder of photos: A = edge sketch, B = photo, side by side.

    python datasets/make_edges_dataset.py --photos PHOTOS --out datasets/edges2things

Every photo (searched recursively) is resized to SIZE x SIZE; its edge map comes from a Canny detector
written with numpy (Gaussian smoothing, Sobel gradients, non-maximum suppression, hysteresis) and is drawn
as black one-pixel lines on white, like the sketches of edges2shoes / edges2handbags. The reference made
those with a pretrained HED network and MATLAB post-processing; this needs neither. Thresholds are
fractions of the strongest gradient of each photo. A --test_fraction of the photos (chosen with --seed)
goes to test/, the rest to train/.
"""
from __future__ import annotations

import argparse
import logging
import math
import random
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from PIL import Image

from data.image_folder import load_image, make_dataset
from util.cli import run_cli, setup_logging
from datasets.tools import names_list, run_jobs, save_image, side_by_side
from util.errors import ImageReadError, UserError

logger = logging.getLogger(__name__)


def _shifted(padded: np.ndarray, dy: int, dx: int, h: int, w: int, r: int) -> np.ndarray:
    """The h x w window of ``padded`` (padded by ``r``) moved by (dy, dx)."""
    return padded[r + dy: r + dy + h, r + dx: r + dx + w]


def gaussian_blur(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian smoothing with reflected borders."""
    if sigma <= 0:
        return gray
    r = max(1, int(math.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    taps /= taps.sum()
    h, w = gray.shape
    rows = np.pad(gray, ((0, 0), (r, r)), mode="reflect")
    gray = sum(t * rows[:, i: i + w] for i, t in enumerate(taps))
    cols = np.pad(gray, ((r, r), (0, 0)), mode="reflect")
    return sum(t * cols[i: i + h, :] for i, t in enumerate(taps))


def canny(gray: np.ndarray, sigma: float = 2.0, low: float = 0.1, high: float = 0.2) -> np.ndarray:
    """Boolean edge mask of a 2-D float image; ``low``/``high`` are fractions of the largest gradient."""
    h, w = gray.shape
    smooth = gaussian_blur(gray.astype(np.float64), sigma)
    p = np.pad(smooth, 1, mode="reflect")

    def at(dy: int, dx: int) -> np.ndarray:
        return _shifted(p, dy, dx, h, w, 1)

    gx = (at(-1, 1) + 2 * at(0, 1) + at(1, 1)) - (at(-1, -1) + 2 * at(0, -1) + at(1, -1))
    gy = (at(1, -1) + 2 * at(1, 0) + at(1, 1)) - (at(-1, -1) + 2 * at(-1, 0) + at(-1, 1))
    magnitude = np.hypot(gx, gy)
    peak = magnitude.max()
    if peak <= 1e-8:
        return np.zeros((h, w), dtype=bool)

    # Non-maximum suppression: keep a pixel only if it is a maximum across the edge, along the gradient
    # direction quantised to 0, 45, 90 or 135 degrees (y grows downwards).
    angle = np.rad2deg(np.arctan2(gy, gx)) % 180
    sector = (((angle + 22.5) // 45) % 4).astype(np.int8)
    m = np.pad(magnitude, 1)
    keep = np.zeros((h, w), dtype=bool)
    for index, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        ahead, behind = _shifted(m, dy, dx, h, w, 1), _shifted(m, -dy, -dx, h, w, 1)
        keep |= (sector == index) & (magnitude >= ahead) & (magnitude > behind)
    thin = np.where(keep, magnitude / peak, 0.0)

    # Hysteresis: weak pixels survive only when 8-connected to a strong one.
    weak = thin >= max(low, 1e-6)
    edges = thin >= max(high, 1e-6)
    while True:
        e = np.pad(edges, 1)
        grown = weak & np.logical_or.reduce([_shifted(e, dy, dx, h, w, 1)
                                             for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
        if np.array_equal(grown, edges):
            return edges
        edges = grown


def edge_sketch(photo: Image.Image, sigma: float, low: float, high: float) -> Image.Image:
    """Black edges on white, RGB, same size as ``photo``."""
    gray = np.asarray(photo.convert("L"), dtype=np.float64) / 255.0
    mask = canny(gray, sigma, low, high)
    return Image.fromarray(np.where(mask, 0, 255).astype(np.uint8)).convert("RGB")


def make_pair(photo_path: Path, out_path: Path, size: int, sigma: float, low: float,
              high: float) -> Optional[str]:
    """Write sketch|photo for one photo; return why it was skipped, or None."""
    try:
        photo = load_image(str(photo_path), "RGB").resize((size, size), Image.Resampling.BICUBIC)
    except ImageReadError as err:
        return str(err)
    save_image(side_by_side(edge_sketch(photo, sigma, low, high), photo), out_path)
    return None


def plan(photos: Path, out: Path, test_fraction: float, seed: int) -> List[Tuple[Path, Path]]:
    """(photo, output file) for every photo; names keep the sub-folder path so they stay unique."""
    root, out_root = photos.resolve(), out.resolve()
    paths = [Path(p).resolve() for p in make_dataset(str(photos), float("inf"))]
    paths = [p for p in paths if out_root not in p.parents]  # outputs of an earlier run inside --photos
    if not paths:
        raise UserError(f"--photos {photos} holds no images")
    names = {}
    clashes = []
    for path in paths:
        name = "_".join(path.relative_to(root).with_suffix("").parts)
        if name in names:
            clashes.append(path)
        else:
            names[name] = path
    if clashes:
        logger.warning("skipped photos whose names clash with another photo's: %s", names_list(clashes))
    order = sorted(names)
    random.Random(seed).shuffle(order)
    n_test = min(len(order), math.ceil(len(order) * test_fraction))
    test = set(order[:n_test])
    return [(names[n], out / ("test" if n in test else "train") / f"{n}.jpg") for n in sorted(names)]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="folder of photos (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="output dataset folder (train/, test/)")
    parser.add_argument("--size", type=int, default=256, help="side of the square A and B images (default 256)")
    parser.add_argument("--sigma", type=float, default=2.0, help="Gaussian smoothing before edges (default 2)")
    parser.add_argument("--low", type=float, default=0.1,
                        help="weak-edge threshold, fraction of the strongest gradient (default 0.1)")
    parser.add_argument("--high", type=float, default=0.2,
                        help="strong-edge threshold, fraction of the strongest gradient (default 0.2)")
    parser.add_argument("--test_fraction", type=float, default=0.1, help="share of photos for test/ (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test split (default 0)")
    parser.add_argument("--no_multiprocessing", action="store_true", help="work in one process")
    args = parser.parse_args(argv)
    if not args.photos.is_dir():
        raise UserError(f"--photos {args.photos} is not a folder")
    if args.size < 8:
        raise UserError(f"--size must be at least 8, got {args.size}")
    if not 0 <= args.test_fraction <= 1:
        raise UserError(f"--test_fraction must be between 0 and 1, got {args.test_fraction}")
    if not 0 <= args.low <= args.high <= 1:
        raise UserError(f"need 0 <= --low ({args.low}) <= --high ({args.high}) <= 1")
    if args.sigma < 0:
        raise UserError(f"--sigma must be 0 or more, got {args.sigma}")
    jobs = plan(args.photos, args.out, args.test_fraction, args.seed)
    problems = run_jobs(make_pair, [(photo, out, args.size, args.sigma, args.low, args.high) for photo, out in jobs],
                        not args.no_multiprocessing, label="edges")
    for problem in filter(None, problems):
        logger.warning("skipped: %s", problem)
    written = [out for (_, out), problem in zip(jobs, problems) if problem is None]
    if not written:
        raise UserError(f"no photo in {args.photos} could be read")
    n_test = sum(out.parent.name == "test" for out in written)
    print(f"wrote {len(written) - n_test} train and {n_test} test image(s) to {args.out}")


if __name__ == "__main__":
    setup_logging()
    run_cli(main)
