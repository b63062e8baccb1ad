"""Check a dataset before training on it: counts, sizes, channel modes, unreadable files and settings that fail.

    python scripts/check_dataset.py --dataroot ./datasets/facades --dataset_mode aligned [--phase train]
        [--direction AtoB] [--input_nc 3] [--output_nc 3] [--preprocess resize_and_crop]
        [--load_size 286] [--crop_size 256] [--netG resnet_9blocks] [--max_dataset_size N]

It finds the files exactly as the dataset mode does, decodes every image fully, and reports each problem on
its own line: files that cannot be read, files the mode cannot use (A|B images of odd width), images
smaller than --crop_size where the crop is taken, and, without a crop, images whose size --netG cannot take.
The sizes are checked against --netG's size multiple as train.py checks them. Exit status: 0 when training with
these settings would work, 1 when a problem was found, 2 when the folder layout or a flag is wrong (one line
naming it).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import data
from data.base_dataset import (PREPROCESS_CHOICES, ImageTooSmallError, check_size_options, input_size_problem,
                               output_size)
from data.image_folder import load_image
from datasets.tools import run_jobs
from models.architectures import add_architecture_flags, generator
from options.base_options import DIRECTION_CHOICES, OptionParser
from util.cli import run_cli, setup_logging
from util.errors import ImageReadError, UserError

MAX_LINES_PER_KIND = 20
FLOAT_MODE = "F"  # 16-bit images are scaled to 8 bits when read (data/image_folder.load_image); floats are not
Size = Tuple[int, int]


def build_parser() -> argparse.ArgumentParser:
    parser = OptionParser(prog="check_dataset.py", description=__doc__.split("\n\n")[0],
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataroot", required=True, help="the --dataroot you train with")
    parser.add_argument("--dataset_mode", default="unaligned", help="unaligned, aligned, single, colorization...")
    parser.add_argument("--phase", default="train", help="sub-folder phase (train, val, test...)")
    parser.add_argument("--direction", default="AtoB", choices=DIRECTION_CHOICES)
    add_architecture_flags(parser, ("netG", "input_nc", "output_nc"))
    parser.add_argument("--preprocess", default="resize_and_crop", choices=PREPROCESS_CHOICES)
    parser.add_argument("--load_size", type=int, default=286, help="scale images to this size")
    parser.add_argument("--crop_size", type=int, default=256, help="then crop to this size")
    parser.add_argument("--max_dataset_size", type=int, default=float("inf"), help="check only the first N files")
    parser.set_defaults(no_flip=True, serial_batches=True, isTrain=True)
    return parser


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse like train.py: the dataset mode's hook may add flags and change defaults (colorization's nc)."""
    parser = build_parser()
    known, _ = parser.parse_known_args(argv)
    try:
        setter = data.get_option_setter(known.dataset_mode)
    except UserError as err:
        parser.error(str(err))
    return setter(parser, True).parse_args(argv)


def inspect_image(path: str) -> Tuple[str, Optional[Size], Optional[str], Optional[str]]:
    """(path, size, mode, error) of one file, decoding it fully as training would."""
    try:
        img = load_image(path, None)
    except ImageReadError as err:
        return path, None, None, str(err)
    return path, img.size, img.mode, None


def describe_sizes(sizes: Sequence[Size]) -> str:
    counts = Counter(sizes)
    common, n = counts.most_common(1)[0]
    if len(counts) == 1:
        return f"{_wh(common)} (all)"
    by_area = sorted(counts, key=lambda s: (s[0] * s[1], s))
    return (f"most common {_wh(common)} ({n} of {len(sizes)}), smallest {_wh(by_area[0])}, "
            f"largest {_wh(by_area[-1])}, {len(counts)} different")


def check(opt: argparse.Namespace) -> Tuple[List[str], List[str], List[str], int]:
    """(report lines, problem lines, warnings, number of problems) for the dataset that ``opt`` describes.

    Problem lines are capped at MAX_LINES_PER_KIND per kind of problem.
    """
    if not os.path.exists(opt.dataroot):
        raise UserError(f"--dataroot {opt.dataroot} does not exist")
    opt.size_multiple = generator(opt.netG).multiple  # what the options derive for train.py
    check_size_options(opt, opt.size_multiple)
    dataset = data.find_dataset_using_name(opt.dataset_mode)(opt)
    folders = dataset.image_folders()
    if not folders:
        raise UserError(f"--dataset_mode {opt.dataset_mode} reads no image folders, so there is nothing to check")
    phase = f" --phase {opt.phase}" if dataset.uses_phase else ""
    report = [f"checking --dataset_mode {opt.dataset_mode}{phase} in {opt.dataroot} with --preprocess "
              f"{opt.preprocess} --load_size {opt.load_size} --crop_size {opt.crop_size}"]
    problems: Dict[str, List[str]] = {"unreadable": [], "file": [], "too small": [], "size": []}
    warnings: List[str] = []
    for folder, paths in folders.items():
        results = run_jobs(inspect_image, [(p,) for p in paths], parallel=len(paths) > 50)
        report.append(f"{folder}: {len(paths)} image{'s' if len(paths) != 1 else ''}")
        sizes: List[Size] = []
        final_sizes: List[Size] = []
        modes: Counter = Counter()
        for path, size, mode, error in results:
            if error is not None:
                problems["unreadable"].append(error)
                continue
            assert size is not None and mode is not None
            sizes.append(size)
            modes[mode] += 1
            problems["file"] += dataset.file_problems(path, size, mode)
            try:
                final_sizes.append(output_size(opt, dataset.piece_size(size)))
                problem = input_size_problem(final_sizes[-1], opt, opt.size_multiple)
                if problem is not None:
                    problems["size"].append(f"'{path}' {problem}")
            except ImageTooSmallError as err:
                where = f" (each of its {dataset.pieces})" if dataset.pieces else ""
                problems["too small"].append(f"'{path}'{where}: {err}")
        if sizes:
            report.append(f"  sizes: {describe_sizes(sizes)}")
            if dataset.pieces:
                report.append(f"  {dataset.pieces}: {describe_sizes([dataset.piece_size(s) for s in sizes])}")
            report.append("  modes: " + ", ".join(f"{m} {n}" for m, n in sorted(modes.items())))
        if final_sizes:
            report.append(f"  training size: {describe_sizes(final_sizes)}")
            if len(set(final_sizes)) > 1:
                warnings.append(f"{folder}: the images end up in different sizes, so only --batch_size 1 works; "
                                f"use a cropping --preprocess for larger batches")
        if modes[FLOAT_MODE]:
            warnings.append(f"{folder}: {modes[FLOAT_MODE]} image(s) hold 32-bit floats; they are read as 8-bit RGB "
                            f"by clipping to 0-255, so values in 0-1 turn black (convert them to 8 or 16 bits first)")
        warnings += dataset.folder_warnings(folder, modes)
    lines: List[str] = []
    for found in problems.values():
        lines += found[:MAX_LINES_PER_KIND]
        if len(found) > MAX_LINES_PER_KIND:
            lines.append(f"... and {len(found) - MAX_LINES_PER_KIND} more like the line above")
    return report, lines, warnings, sum(len(found) for found in problems.values())


def _wh(size: Size) -> str:
    return f"{size[0]}x{size[1]}"


def main(argv: Optional[Sequence[str]] = None) -> None:
    opt = parse(argv)
    setup_logging()
    report, problems, warnings, count = check(opt)
    for line in report:
        print(line)
    for line in warnings:
        print(f"warning: {line}")
    for line in problems:
        print(f"problem: {line}")
    if problems:
        print(f"{count} problem(s): training with these settings would fail")
        sys.exit(1)
    print("OK: training with these settings would work")


if __name__ == "__main__":
    run_cli(main)
