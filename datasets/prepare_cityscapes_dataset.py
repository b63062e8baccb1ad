"""Build the pix2pix and CycleGAN cityscapes datasets from the official Cityscapes downloads.

    python datasets/prepare_cityscapes_dataset.py --gtFine_dir gtFine --leftImg8bit_dir leftImg8bit \\
        --output_dir datasets/cityscapes

Reads gtFine/{train,val}/CITY/*_gtFine_color.png and leftImg8bit/{train,val}/CITY/*_leftImg8bit.png
(from gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip), resizes both to 256x256 and writes, with
val written as test:

* {train,test}/i.jpg: 512x256, photo on the left (A), colour label map on the right (B), so labels -> photo
  needs --direction BtoA;
* {train,test}A/i_A.jpg (photo) and {train,test}B/i_B.jpg (label map) for CycleGAN.

Frames are matched by their identifier (city_sequence_frame); a frame present on one side only is reported
and skipped. JPEG quality 100 without chroma subsampling.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image

from data.image_folder import load_image
from util.cli import run_cli, setup_logging
from datasets.tools import names_list, run_jobs, save_image, side_by_side
from util.errors import ImageReadError, UserError

logger = logging.getLogger(__name__)

SIZE = 256
LABEL_SUFFIX = "_gtFine_color.png"
PHOTO_SUFFIX = "_leftImg8bit.png"
PHASES = {"train": "train", "val": "test"}


def _frames(folder: Path, suffix: str) -> Dict[str, Path]:
    """Identifier -> file for folder/CITY/<identifier><suffix>."""
    return {p.name[: -len(suffix)]: p for p in sorted(folder.glob(f"*/*{suffix}"))}


def match_frames(labels_dir: Path, photos_dir: Path) -> Tuple[List[Tuple[str, Path, Path]], List[Path]]:
    """(identifier, label map, photo) for frames present in both folders, sorted; and the unmatched files."""
    labels, photos = _frames(labels_dir, LABEL_SUFFIX), _frames(photos_dir, PHOTO_SUFFIX)
    matched = [(k, labels[k], photos[k]) for k in sorted(labels.keys() & photos.keys())]
    unmatched = [labels[k] for k in sorted(labels.keys() - photos.keys())]
    unmatched += [photos[k] for k in sorted(photos.keys() - labels.keys())]
    return matched, unmatched


def _resized(path: Path) -> Image.Image:
    return load_image(str(path), "RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC)


def write_frame(label_path: Path, photo_path: Path, out_dir: Path, phase: str, index: int) -> Optional[str]:
    """Write one frame in both layouts; return why it was skipped, or None."""
    try:
        label, photo = _resized(label_path), _resized(photo_path)
    except ImageReadError as err:
        return str(err)
    save_image(side_by_side(photo, label), out_dir / phase / f"{index}.jpg")
    save_image(photo, out_dir / f"{phase}A" / f"{index}_A.jpg")
    save_image(label, out_dir / f"{phase}B" / f"{index}_B.jpg")
    return None


def prepare(gtfine_dir: Path, leftimg_dir: Path, out_dir: Path, parallel: bool = True) -> int:
    """Convert the train and val splits; return the number of frames written."""
    for flag, folder in (("--gtFine_dir", gtfine_dir), ("--leftImg8bit_dir", leftimg_dir)):
        if not folder.is_dir():
            raise UserError(f"{flag} {folder} is not a folder")
    written = 0
    for split, phase in PHASES.items():
        if not (gtfine_dir / split).is_dir() or not (leftimg_dir / split).is_dir():
            logger.warning("%s: no %s folder in both --gtFine_dir and --leftImg8bit_dir; skipped", split, split)
            continue
        matched, unmatched = match_frames(gtfine_dir / split, leftimg_dir / split)
        if unmatched:
            logger.warning("%s: %d file(s) without a partner (label map or photo) skipped: %s", split,
                           len(unmatched), names_list(unmatched))
        jobs = [(label, photo, out_dir, phase, i) for i, (_, label, photo) in enumerate(matched)]
        problems = run_jobs(write_frame, jobs, parallel, label=split)
        for problem in filter(None, problems):
            logger.warning("%s: skipped: %s", split, problem)
        made = sum(problem is None for problem in problems)
        written += made
        print(f"{split}: wrote {made} frame(s) to {out_dir / phase}, {out_dir / phase}A and {out_dir / phase}B")
    if not written:
        raise UserError(f"no Cityscapes frame found: expected {gtfine_dir}/train/CITY/*{LABEL_SUFFIX} and "
                        f"{leftimg_dir}/train/CITY/*{PHOTO_SUFFIX} (and val/)")
    return written


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gtFine_dir", type=Path, required=True, help="the gtFine folder (train/, val/ inside)")
    parser.add_argument("--leftImg8bit_dir", type=Path, required=True,
                        help="the leftImg8bit folder (train/, val/ inside)")
    parser.add_argument("--output_dir", type=Path, required=True, help="where to write the datasets")
    parser.add_argument("--no_multiprocessing", action="store_true", help="work in one process")
    args = parser.parse_args(argv)
    prepare(args.gtFine_dir, args.leftImg8bit_dir, args.output_dir, not args.no_multiprocessing)


if __name__ == "__main__":
    setup_logging()
    run_cli(main)
