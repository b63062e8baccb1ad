"""Write the feature maps that a pix2pixHD run trains on with ``--load_features``, from a trained encoder.

    python scripts/pix2pixhd/precompute_feature_maps.py --model pix2pixhd --dataroot ./datasets/cityscapes \\
        --name label2city_512p_feat --instance_feat [the other flags of that training run]

Takes the same flags as train.py, those of the run whose encoder ``{epoch}_net_E.pth`` is used (the 512p feature
run in the 1024p recipe). Each photo of ``--phase`` is preprocessed as that run saw it, encoded and averaged per
instance; the map is resized (nearest) to its label map's full size and written as an 8-bit RGB PNG under
``{dataroot}/{phase}_feat/``, with the label file's name, so the folders pair by sorted position. The 1024p run
then trains with ``--instance_feat --load_features`` (scripts/pix2pixhd/train_1024p_feat.sh), and
cluster_features.py with the same flags clusters these maps for test time.

The reference's script ran an encoder it never loaded (random weights); this one loads the trained encoder and
stops when there is none.
"""
from __future__ import annotations

import argparse
import logging
import os
from typing import Tuple

import numpy as np
import torch
from PIL import Image

from data import create_dataset
from models.pix2pixhd_model import STORED_FEAT_NUM, load_run_encoder, pooling_regions
from options.train_options import TrainOptions
from util.cli import run_cli, setup_logging
from util.errors import UserError
from util.util import save_image

logger = logging.getLogger("precompute_feature_maps")


def feature_image(feat: torch.Tensor, size: Tuple[int, int]) -> Image.Image:
    """A 3 x H x W map in [-1, 1] as an RGB image of ``size`` (W, H): rounded to 8 bits, resized nearest."""
    array = ((feat.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    image = Image.fromarray(np.ascontiguousarray(array), "RGB")
    return image if image.size == size else image.resize(size, Image.NEAREST)


def check_options(opt: argparse.Namespace) -> None:
    """The maps are whole images of 3 features from an encoder: refuse flags that cannot give them."""
    if opt.model != "pix2pixhd" or not (opt.instance_feat or opt.label_feat):
        raise UserError("precompute_feature_maps.py needs --model pix2pixhd with --instance_feat or --label_feat "
                        "(the flags of the run whose encoder it uses)")
    if opt.load_features:
        raise UserError("precompute_feature_maps.py writes the maps that --load_features reads; leave the flag out "
                        "(give the flags of the run that trained the encoder)")
    if opt.feat_num != STORED_FEAT_NUM:
        raise UserError(f"feature maps are stored as RGB images, so --feat_num must be {STORED_FEAT_NUM}, "
                        f"got {opt.feat_num}")
    if "crop" in opt.preprocess:
        raise UserError(f"--resize_or_crop {opt.preprocess}: the maps cover whole images; pass a mode without a crop "
                        f"(e.g. scale_width, the 512p run's)")


def precompute_feature_maps(opt: argparse.Namespace) -> int:
    """Encode every photo of ``opt.phase`` and write its feature map; return how many were written."""
    check_options(opt)
    opt.batch_size, opt.serial_batches, opt.no_flip = 1, True, True
    encoder = load_run_encoder(opt)
    dataset = create_dataset(opt)
    label_dir = dataset.dataset.folders["label"]
    feat_dir = os.path.join(opt.dataroot, f"{opt.phase}_feat")
    for i, batch in enumerate(dataset):
        label_path = batch["path"][0]
        regions = pooling_regions(opt, batch["label"], None if opt.no_instance else batch["inst"]).to(opt.device)
        with torch.no_grad():
            feat = encoder(batch["image"].to(opt.device, torch.get_default_dtype()), regions)[0]
        with Image.open(label_path) as label:
            size = label.size
        out = os.path.join(feat_dir, os.path.splitext(os.path.relpath(label_path, label_dir))[0] + ".png")
        save_image(feature_image(feat, size), out)
        logger.info("wrote %d/%d %s", i + 1, len(dataset), out)
    return len(dataset)


def main() -> None:
    opt = TrainOptions().parse(save=False)
    setup_logging(opt.verbose)
    count = precompute_feature_maps(opt)
    logger.info("wrote the feature maps of %d images to %s; train with --instance_feat --load_features", count,
                os.path.join(opt.dataroot, f"{opt.phase}_feat"))


if __name__ == "__main__":
    run_cli(main)
