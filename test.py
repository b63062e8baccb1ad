"""Translate images with a trained model and write an HTML page of the results.

    python test.py --dataroot ./datasets/horse2zebra/testA --name horse2zebra_pretrained --model test --no_dropout
    python test.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA

Results go to ``--results_dir/--name/{phase}_{epoch}/index.html`` with the images in ``images/``.
Architecture flags left out (``--netG``, ``--norm``, ``--no_dropout``...) come from the run's train_opt.txt.
Under ``torchrun --nproc_per_node N test.py ...`` the images are split between the processes, each writes its
own result images, and rank 0 writes the one page, in the order a single process would.
"""
from __future__ import annotations

from util.cli import exit_quietly_on_interrupt, run_cli, setup_logging

if __name__ == "__main__":
    exit_quietly_on_interrupt()  # before the slow imports below: Ctrl-C during start-up gives one line

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
from typing import Any, Dict, List, Sequence  # noqa: E402

from data import create_dataset  # noqa: E402
from data.base_dataset import check_input_size  # noqa: E402
from models import create_model  # noqa: E402
from options.test_options import TestOptions  # noqa: E402
from util import distributed  # noqa: E402
from util.errors import UserError  # noqa: E402
from util.fileio import is_main_process  # noqa: E402
from util.html import HTML  # noqa: E402
from util.visualizer import save_images  # noqa: E402

logger = logging.getLogger("test")


def measure_results(web_dir: str, names: List[str], opt: argparse.Namespace) -> Dict[str, str]:
    """--eval_metrics: scripts/evaluate.py's metrics of this run's images, written to metrics.json; page lines."""
    from evaluation.folders import evaluate_results, format_table, summary_lines, time_line, write_report
    from evaluation.metrics import PAIRED_DATASET_MODES

    paired = opt.dataset_mode in PAIRED_DATASET_MODES  # unaligned rows are not pairs: FID/KID only
    report = evaluate_results(web_dir, paired=paired, names=names, device=opt.device,
                              inception_weights=opt.inception_weights)
    write_report(report, os.path.join(web_dir, "metrics.json"))
    logger.info("metrics (also in %s), measured in %s:\n%s", os.path.join(web_dir, "metrics.json"),
                time_line(report), format_table(report))
    return summary_lines(report)


def check_eval_metrics(opt: argparse.Namespace) -> None:
    """Fail before translating anything when --eval_metrics cannot run."""
    from evaluation.metrics import PAIRED_DATASET_MODES, inception_weights_file, weights_hint

    if opt.model == "test":
        raise UserError("--eval_metrics: --model test writes no target images to compare with; run "
                        "scripts/evaluate.py --fake DIR --real DIR on the translated images instead")
    if inception_weights_file(opt.inception_weights) is None and opt.dataset_mode not in PAIRED_DATASET_MODES:
        raise UserError(f"--eval_metrics: --dataset_mode {opt.dataset_mode} does not pair its images, so only FID "
                        f"and KID measure them, and they need the Inception weights: {weights_hint()}")


class RecordedPage:
    """Takes the place of the results page on each rank: images are saved at once, the rows are recorded so
    that rank 0 can put every rank's rows on the one page."""

    def __init__(self, image_dir: str) -> None:
        self.image_dir = image_dir
        self.rows: List[List[Any]] = []  # per image: its header (the image's stem), then its row of images

    def get_image_dir(self) -> str:
        return self.image_dir

    def add_header(self, text: str) -> None:
        self.rows.append([text])

    def add_images(self, ims: Sequence[str], txts: Sequence[str], links: Sequence[str], width: int = 400) -> None:
        self.rows[-1].extend([list(ims), list(txts), list(links), width])


def main() -> None:
    opt = TestOptions().parse()
    setup_logging(opt.verbose)
    if opt.eval_metrics:
        check_eval_metrics(opt)
    distributed.setup(opt.device)
    completed = False
    try:
        run(opt)
        completed = True
    finally:
        distributed.cleanup(completed)


def run(opt: argparse.Namespace) -> None:
    """Translate this process's share of the images (each side a multiple of ``opt.size_multiple``); rank 0 then
    writes the page (and the metrics)."""
    if distributed.rank() != 0:
        logging.getLogger().setLevel(logging.WARNING)  # only rank 0 reports progress
    world, rank = distributed.world_size(), distributed.rank()
    sampler = None
    if distributed.is_distributed():
        sampler = lambda ds: distributed.ShardSampler(  # noqa: E731
            int(min(len(ds), opt.num_test, opt.max_dataset_size)), world, rank, shuffle=False, seed=0, pad=False)
    dataset = create_dataset(opt, sampler)
    model = create_model(opt)
    model.setup(opt)

    web_dir = os.path.join(opt.results_dir, opt.name, f"{opt.phase}_{opt.epoch}")
    if opt.load_iter > 0:
        web_dir = f"{web_dir}_iter{opt.load_iter}"
    logger.info("creating web directory %s", web_dir)
    title = f"Experiment = {opt.name}, Phase = {opt.phase}, Epoch = {opt.epoch}"
    webpage = HTML(web_dir, title) if is_main_process() else None
    page = RecordedPage(os.path.join(web_dir, "images"))
    if opt.eval:
        model.eval()
    done = 0
    for data in dataset:
        if done >= opt.num_test:
            break
        check_input_size(data, opt, opt.size_multiple)
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
            logger.info("processing (%04d)-th image... %s", done * world, img_path)
        save_images(page, visuals, img_path, aspect_ratio=opt.aspect_ratio, width=opt.display_winsize)
        done += len(img_path)
    rows_by_rank = distributed.gather_objects(page.rows)  # also waits until every rank has written its images
    if webpage is None:
        return
    # rank r's k-th image is image r + k * world of the single-process order
    ordered = [row for _, row in sorted((k * world + r, row) for r, rows in enumerate(rows_by_rank)
                                        for k, row in enumerate(rows))]
    for header, ims, txts, links, width in ordered:
        webpage.add_header(header)
        webpage.add_images(ims, txts, links, width=width)
    summary = {"model": opt.model, "epoch": opt.epoch, "images": len(ordered)}
    webpage.set_summary(summary)
    if opt.eval_metrics:
        webpage.set_metrics(measure_results(web_dir, [row[0] for row in ordered], opt))
    webpage.save()
    logger.info("wrote %d result(s) to %s", len(ordered), os.path.join(web_dir, "index.html"))


if __name__ == "__main__":
    run_cli(main)
