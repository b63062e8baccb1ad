"""Combine folders A and B of paired images into the A|B images of an aligned (pix2pix) dataset.

    python datasets/combine_A_and_B.py --fold_A A --fold_B B --fold_AB AB

A and B each hold one subfolder per split (train, val, test, ...). In every split, A/split/x and B/split/x
(same stem; with --use_AB, x_A and x_B) become AB/split/x, A on the left. Files are paired by stem and in
sorted order; unpaired files and pairs of different sizes are reported by name and skipped.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from util.cli import run_cli, setup_logging
from datasets.tools import list_images, names_list, pair_by_stem, write_pairs
from util.errors import UserError

logger = logging.getLogger(__name__)


def _key(suffix: str, use_ab: bool) -> Callable[[Path], str]:
    """Pairing key of a file: its stem, without the ``_A`` / ``_B`` ending when --use_AB is set."""
    def key(path: Path) -> str:
        stem = path.stem
        return stem[: -len(suffix)] if use_ab and stem.endswith(suffix) else stem
    return key


def plan_split(fold_a: Path, fold_b: Path, fold_ab: Path, num_imgs: int,
               use_ab: bool) -> Tuple[List[Tuple[Path, Path, Path]], int]:
    """The (A, B, AB) jobs of one split, in sorted order; logs what cannot be paired. Returns jobs, skipped."""
    pairing = pair_by_stem(list_images(fold_a), list_images(fold_b), _key("_A", use_ab), _key("_B", use_ab))
    if pairing.only_a:
        logger.warning("%s: %d A image(s) without a B partner in %s: %s", fold_a.name, len(pairing.only_a),
                       fold_b, names_list(pairing.only_a))
    if pairing.only_b:
        logger.warning("%s: %d B image(s) without an A partner in %s: %s", fold_a.name, len(pairing.only_b),
                       fold_a, names_list(pairing.only_b))
    if pairing.duplicates:
        logger.warning("%s: skipped files that share their pairing name with another file: %s", fold_a.name,
                       names_list(pairing.duplicates))
    jobs = [(a, b, fold_ab / f"{key}{a.suffix}") for key, a, b in pairing.pairs[:num_imgs]]
    skipped = len(pairing.only_a) + len(pairing.only_b) + len(pairing.duplicates)
    return jobs, skipped


def combine(fold_a: Path, fold_b: Path, fold_ab: Path, num_imgs: int = 1000000, use_ab: bool = False,
            parallel: bool = True) -> int:
    """Write every pair of every split; return how many A|B images were written."""
    for flag, folder in (("--fold_A", fold_a), ("--fold_B", fold_b)):
        if not folder.is_dir():
            raise UserError(f"{flag} {folder} is not a folder")
    splits = sorted(p.name for p in fold_a.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not splits:
        raise UserError(f"--fold_A {fold_a} has no split subfolders (train, val, test, ...)")
    written = 0
    for split in splits:
        if not (fold_b / split).is_dir():
            logger.warning("%s: no %s in --fold_B; split skipped", split, fold_b / split)
            continue
        jobs, skipped = plan_split(fold_a / split, fold_b / split, fold_ab / split, num_imgs, use_ab)
        written += write_pairs(jobs, skipped, fold_ab / split, split, parallel)
    if not written:
        raise UserError(f"no A|B image could be made from {fold_a} and {fold_b}")
    return written


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fold_A", type=Path, required=True, help="input folder A, with one subfolder per split")
    parser.add_argument("--fold_B", type=Path, required=True, help="input folder B, with the same subfolders")
    parser.add_argument("--fold_AB", type=Path, required=True, help="output folder")
    parser.add_argument("--num_imgs", type=int, default=1000000, help="at most this many pairs per split")
    parser.add_argument("--use_AB", action="store_true", help="pair x_A with x_B; the output is named x")
    parser.add_argument("--no_multiprocessing", action="store_true", help="work in one process")
    args = parser.parse_args(argv)
    if args.num_imgs < 1:
        raise UserError("--num_imgs must be at least 1")
    combine(args.fold_A, args.fold_B, args.fold_AB, args.num_imgs, args.use_AB, not args.no_multiprocessing)


if __name__ == "__main__":
    setup_logging()
    run_cli(main)
