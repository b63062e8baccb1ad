"""Measure translated images: L1, PSNR and SSIM of pairs, FID and KID of sets; print a table, write JSON.

    python scripts/evaluate.py --results ./results/facades_pix2pix/test_latest [--unpaired]
    python scripts/evaluate.py --fake DIR --real DIR [--json metrics.json]
        [--metrics l1,psnr,ssim,fid,kid] [--inception_weights pt_inception-2015-12-05-6726825d.pth]
        [--device cpu|cuda] [--batch_size 50]

``--results`` takes a test.py results folder and compares fake_B with real_B (and fake_A with real_A) row by
row; ``--unpaired`` is for unaligned data, where a row's images are not a pair (only FID/KID then).
``--fake``/``--real`` pair files by name when the names match, else measure FID/KID only. FID/KID need
pytorch-fid's Inception weights as a local file (--inception_weights or $IMG2IMG_INCEPTION_WEIGHTS); without
it they are skipped with one line saying how to get it. Nothing is downloaded.
The JSON goes to DIR/metrics.json for --results and ./metrics.json otherwise, unless --json says where; with
--results the metrics also go on the folder's results page (DIR/index.html). The time they took is printed
under the table.
"""
from __future__ import annotations

import argparse
import logging
import os
from typing import List, Optional

from evaluation.folders import (evaluate_folders, evaluate_results, format_table, summary_lines, time_line,
                                 write_report)
from evaluation.metrics import ALL_METRICS, DEFAULT_BATCH_SIZE, PAIRED_METRICS, WEIGHTS_ENV
from util.cli import run_cli, setup_logging
from util.device import default_device, resolve_device
from util.errors import UserError
from util.html import update_saved_metrics

logger = logging.getLogger("evaluate")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", help="a test.py results folder (holding index.html and images/)")
    parser.add_argument("--fake", help="folder of translated images")
    parser.add_argument("--real", help="folder of target-domain images")
    parser.add_argument("--unpaired", action="store_true",
                        help="the images are not pairs (unaligned data): skip L1, PSNR and SSIM")
    parser.add_argument("--metrics", default=",".join(ALL_METRICS), help="comma-separated subset of %(default)s")
    parser.add_argument("--inception_weights", default=None,
                        help=f"pytorch-fid Inception weights file for FID/KID (default: ${WEIGHTS_ENV})")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda when available)")
    parser.add_argument("--batch_size", type=int, default=DEFAULT_BATCH_SIZE, help="images per Inception batch")
    parser.add_argument("--json", help="where to write the JSON report")
    parser.add_argument("--verbose", action="store_true")
    opt = parser.parse_args(argv)
    if (opt.results and (opt.fake or opt.real)) or (not opt.results and not (opt.fake and opt.real)):
        parser.error("give either --results DIR or both --fake DIR and --real DIR")
    opt.metrics = [m.strip().lower() for m in opt.metrics.split(",") if m.strip()]
    if opt.unpaired:
        opt.metrics = [m for m in opt.metrics if m not in PAIRED_METRICS]
    if not opt.metrics:
        parser.error("--metrics: no metric left to compute (--unpaired leaves only fid and kid)")
    if opt.batch_size < 1:
        parser.error("--batch_size must be at least 1")
    return opt


def main(argv: Optional[List[str]] = None) -> None:
    opt = parse_args(argv)
    setup_logging(opt.verbose)
    options = {"metrics": opt.metrics, "device": resolve_device(opt.device or default_device(), "--device"),
               "inception_weights": opt.inception_weights, "batch_size": opt.batch_size}
    for flag in ("results", "fake", "real"):
        folder = getattr(opt, flag)
        if folder and not os.path.isdir(folder):
            raise UserError(f"--{flag}: '{folder}' is not a folder")
    if opt.results:
        report = evaluate_results(opt.results, paired=not opt.unpaired, **options)
    else:
        report = evaluate_folders(opt.fake, opt.real, paired=not opt.unpaired, **options)
    json_path = opt.json or (os.path.join(opt.results, "metrics.json") if opt.results else "metrics.json")
    write_report(report, json_path)
    print(format_table(report))
    print(f"measured in {time_line(report)}")
    logger.info("wrote %s", json_path)
    if opt.results and update_saved_metrics(opt.results, summary_lines(report)):
        logger.info("updated the results page %s", os.path.join(opt.results, "index.html"))


if __name__ == "__main__":
    run_cli(main)
