"""Translate images with a trained model and write an HTML page of the results.

    python test.py --dataroot ./datasets/horse2zebra/testA --name horse2zebra_pretrained --model test --no_dropout
    python test.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA

Results go to ``--results_dir/--name/{phase}_{epoch}/index.html`` with the images in ``images/``.
Architecture flags left out (``--netG``, ``--norm``, ``--no_dropout``...) come from the run's train_opt.txt.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Dict, List

from data import create_dataset
from models import create_model
from options.test_options import TestOptions
from util.cli import run_cli, setup_logging
from util.errors import UserError
from util.html import HTML
from util.visualizer import save_images

logger = logging.getLogger("test")


def measure_results(web_dir: str, names: List[str], opt: argparse.Namespace) -> Dict[str, str]:
    """--eval_metrics: scripts/evaluate.py's metrics of this run's images, written to metrics.json; page lines."""
    from evaluation.folders import evaluate_results, format_table, summary_lines, write_report
    from evaluation.metrics import PAIRED_DATASET_MODES

    paired = opt.dataset_mode in PAIRED_DATASET_MODES  # unaligned rows are not pairs: FID/KID only
    report = evaluate_results(web_dir, paired=paired, names=names, device=opt.device,
                              inception_weights=opt.inception_weights)
    write_report(report, os.path.join(web_dir, "metrics.json"))
    logger.info("metrics (also in %s):\n%s", os.path.join(web_dir, "metrics.json"), format_table(report))
    return summary_lines(report)


def check_eval_metrics(opt: argparse.Namespace) -> None:
    """Fail before translating anything when --eval_metrics cannot run."""
    from evaluation.metrics import inception_weights_file

    if opt.model == "test":
        raise UserError("--eval_metrics: --model test writes no target images to compare with; run "
                        "scripts/evaluate.py --fake DIR --real DIR on the translated images instead")
    inception_weights_file(opt.inception_weights)


def main() -> None:
    opt = TestOptions().parse()
    setup_logging(opt.verbose)
    if opt.eval_metrics:
        check_eval_metrics(opt)
    dataset = create_dataset(opt)
    model = create_model(opt)
    model.setup(opt)

    web_dir = os.path.join(opt.results_dir, opt.name, f"{opt.phase}_{opt.epoch}")
    if opt.load_iter > 0:
        web_dir = f"{web_dir}_iter{opt.load_iter}"
    logger.info("creating web directory %s", web_dir)
    webpage = HTML(web_dir, f"Experiment = {opt.name}, Phase = {opt.phase}, Epoch = {opt.epoch}")
    if opt.eval:
        model.eval()
    done = 0
    written: List[str] = []
    for data in dataset:
        if done >= opt.num_test:
            break
        model.set_input(data)
        model.test()
        visuals = model.get_current_visuals()
        img_path = model.get_image_paths()
        if isinstance(img_path, str):
            img_path = [img_path]
        if len(img_path) > opt.num_test - done:  # the last batch may hold more than --num_test asks for
            img_path = list(img_path)[: opt.num_test - done]
            visuals = {k: v[: len(img_path)] for k, v in visuals.items()}
        if done % 5 == 0 or len(img_path) > 1:
            logger.info("processing (%04d)-th image... %s", done, img_path)
        save_images(webpage, visuals, img_path, aspect_ratio=opt.aspect_ratio, width=opt.display_winsize)
        written.extend(Path(p).stem for p in img_path)
        done += len(img_path)
    summary = {"model": opt.model, "epoch": opt.epoch, "images": done}
    if opt.eval_metrics:
        summary.update(measure_results(web_dir, written, opt))
    webpage.set_summary(summary)
    webpage.save()
    logger.info("wrote %d result(s) to %s", done, os.path.join(web_dir, "index.html"))


if __name__ == "__main__":
    run_cli(main)
