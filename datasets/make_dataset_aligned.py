"""Turn an unaligned-layout dataset of paired images (trainA, trainB, testA, testB) into A|B images.

    python datasets/make_dataset_aligned.py --dataset-path datasets/NAME

Every {split}A folder with a {split}B partner becomes {split}/ of side-by-side images, A on the left.
Files are paired by name (stem) when the names match; when no name pairs up but the counts are equal
they are paired by sorted position, with a warning. Pairs of different sizes are reported and skipped.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from util.cli import run_cli, setup_logging
from datasets.tools import list_images, names_list, pair_by_stem, write_pairs
from util.errors import UserError

logger = logging.getLogger(__name__)


def plan_split(folder_a: Path, folder_b: Path, out: Path) -> Tuple[List[Tuple[Path, Path, Path]], int]:
    """The (A, B, output) jobs of one split and the number of files left out."""
    a_files, b_files = list_images(folder_a), list_images(folder_b)
    pairing = pair_by_stem(a_files, b_files)
    if pairing.pairs and not (pairing.only_a or pairing.only_b or pairing.duplicates):
        return [(a, b, out / f"{key}.jpg") for key, a, b in pairing.pairs], 0
    if not pairing.pairs and a_files and len(a_files) == len(b_files):
        logger.warning("%s and %s share no file names; pairing them by sorted position", folder_a, folder_b)
        return [(a, b, out / f"{i:04d}.jpg") for i, (a, b) in enumerate(zip(a_files, b_files))], 0
    if not pairing.pairs:
        raise UserError(f"cannot pair {folder_a} ({len(a_files)} images) with {folder_b} ({len(b_files)} "
                        f"images): no file names match and the counts differ")
    for side, files in (("A", pairing.only_a), ("B", pairing.only_b)):
        if files:
            logger.warning("%s: %d %s image(s) without a partner: %s", out.name, len(files), side,
                           names_list(files))
    if pairing.duplicates:
        logger.warning("%s: skipped files that share their name with another file: %s", out.name,
                       names_list(pairing.duplicates))
    skipped = len(pairing.only_a) + len(pairing.only_b) + len(pairing.duplicates)
    return [(a, b, out / f"{key}.jpg") for key, a, b in pairing.pairs], skipped


def make_aligned(dataset: Path, parallel: bool = True) -> int:
    """Write {split}/ for every {split}A + {split}B; return how many images were written."""
    if not dataset.is_dir():
        raise UserError(f"--dataset-path {dataset} is not a folder")
    splits = sorted(p.name[:-1] for p in dataset.iterdir() if p.is_dir() and len(p.name) > 1
                    and p.name.endswith("A") and (dataset / f"{p.name[:-1]}B").is_dir())
    if not splits:
        raise UserError(f"--dataset-path {dataset} has no trainA/trainB or testA/testB folder pair")
    written = 0
    for split in splits:
        jobs, skipped = plan_split(dataset / f"{split}A", dataset / f"{split}B", dataset / split)
        written += write_pairs(jobs, skipped, dataset / split, split, parallel)
    if not written:
        raise UserError(f"no A|B image could be made in {dataset}")
    return written


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-path", type=Path, required=True, help="folder holding trainA, trainB, ...")
    parser.add_argument("--no_multiprocessing", action="store_true", help="work in one process")
    args = parser.parse_args(argv)
    make_aligned(args.dataset_path, not args.no_multiprocessing)


if __name__ == "__main__":
    setup_logging()
    run_cli(main)
