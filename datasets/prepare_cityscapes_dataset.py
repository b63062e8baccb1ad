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

With ``--layout pix2pixhd`` it writes pix2pixHD's layout instead (``--model pix2pixhd``, dataset mode
pix2pixhd), at full resolution and byte for byte: {train,test}_label/ (*_gtFine_labelIds.png),
{train,test}_inst/ (*_gtFine_instanceIds.png, 16-bit) and {train,test}_img/ (*_leftImg8bit.png), keeping the
file names, so the three folders sort alike and pair by position.
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
from util.fileio import atomic_write

logger = logging.getLogger(__name__)

SIZE = 256
LABEL_SUFFIX = "_gtFine_color.png"
PHOTO_SUFFIX = "_leftImg8bit.png"
PHASES = {"train": "train", "val": "test"}
# pix2pixHD layout: output folder suffix -> (source: gtFine or leftImg8bit, file suffix)
HD_FOLDERS = {"label": ("gtFine", "_gtFine_labelIds.png"), "inst": ("gtFine", "_gtFine_instanceIds.png"),
              "img": ("leftImg8bit", PHOTO_SUFFIX)}


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


def copy_hd_frame(sources: Tuple[Path, ...], out_dir: Path, phase: str) -> Optional[str]:
    """Copy one frame's label map, instance map and photo into the pix2pixHD folders; return why not, or None."""
    for (folder, _), src in zip(HD_FOLDERS.items(), sources):
        try:
            data = src.read_bytes()
        except OSError as err:
            return f"cannot read '{src}': {err.strerror or err}"
        atomic_write(out_dir / f"{phase}_{folder}" / src.name, lambda f, data=data: f.write(data))
    return None


def prepare_hd(gtfine_dir: Path, leftimg_dir: Path, out_dir: Path, parallel: bool = True) -> int:
    """pix2pixHD's layout of the train and val splits; return the number of frames written."""
    roots = {"gtFine": gtfine_dir, "leftImg8bit": leftimg_dir}
    written = 0
    for split, phase in PHASES.items():
        found = {key: _frames(roots[source] / split, suffix) for key, (source, suffix) in HD_FOLDERS.items()}
        common = set.intersection(*(set(frames) for frames in found.values()))
        unmatched = sorted(p for frames in found.values() for k, p in frames.items() if k not in common)
        if unmatched:
            logger.warning("%s: %d file(s) without their label map, instance map or photo skipped: %s", split,
                           len(unmatched), names_list(unmatched))
        jobs = [(tuple(found[key][ident] for key in HD_FOLDERS), out_dir, phase) for ident in sorted(common)]
        problems = run_jobs(copy_hd_frame, jobs, parallel, label=split)
        for problem in filter(None, problems):
            logger.warning("%s: skipped: %s", split, problem)
        made = sum(problem is None for problem in problems)
        written += made
        if made:
            print(f"{split}: wrote {made} frame(s) to {out_dir}/{phase}_label, {phase}_inst and {phase}_img")
    if not written:
        raise UserError(f"no Cityscapes frame found: expected {gtfine_dir}/train/CITY/*_gtFine_labelIds.png and "
                        f"*_gtFine_instanceIds.png, and {leftimg_dir}/train/CITY/*{PHOTO_SUFFIX} (and val/)")
    return written


def prepare(gtfine_dir: Path, leftimg_dir: Path, out_dir: Path, parallel: bool = True, layout: str = "pix2pix") -> int:
    """Convert the train and val splits into ``layout``; return the number of frames written."""
    for flag, folder in (("--gtFine_dir", gtfine_dir), ("--leftImg8bit_dir", leftimg_dir)):
        if not folder.is_dir():
            raise UserError(f"{flag} {folder} is not a folder")
    if layout == "pix2pixhd":
        return prepare_hd(gtfine_dir, leftimg_dir, out_dir, parallel)
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
    parser.add_argument("--layout", choices=("pix2pix", "pix2pixhd"), default="pix2pix",
                        help="pix2pix/CycleGAN folders at 256x256, or pix2pixHD's label/inst/img folders at full size")
    args = parser.parse_args(argv)
    prepare(args.gtFine_dir, args.leftImg8bit_dir, args.output_dir, not args.no_multiprocessing, args.layout)


if __name__ == "__main__":
    setup_logging()
    run_cli(main)
