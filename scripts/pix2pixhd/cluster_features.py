"""Cluster a trained pix2pixHD encoder's instance features per class, for sampling varied outputs at test time.

    python scripts/pix2pixhd/cluster_features.py --model pix2pixhd --dataroot ./datasets/cityscapes \\
        --name label2city_512p_feat --instance_feat [the other flags of the training run] [--n_clusters 10]

Takes the same flags as train.py. Encodes every training image with ``{epoch}_net_E.pth`` of the run (with
``--load_features``: reads the ``train_feat`` maps the run was trained on, see precompute_feature_maps.py), takes
one feature vector per instance (its mean; the encoder output is constant over an instance), keeps instances larger
than 1/64 of the image, and runs k-means (scikit-learn, ``random_state`` 0, ``n_init`` 10) per class with
min(instances, --n_clusters) clusters. The centres go to ``checkpoints/NAME/features_clustered_{n:03d}.npz``
(one float64 array per class id, no pickles), which test.py reads by default.
"""
from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from data import create_dataset
from models import pix2pixhd_networks as hd
from models.pix2pixhd_model import class_of_instance, load_run_encoder, pooling_regions
from options.train_options import TrainOptions
from util.cli import run_cli, setup_logging
from util.errors import UserError
from util.fileio import atomic_write

logger = logging.getLogger("cluster_features")

# an instance must cover more than this many 1/32-blocks of the image (i.e. more than 1/64 of it)
MIN_AREA_BLOCKS = 0.5


def encode_training_set(opt: argparse.Namespace) -> Dict[int, List[np.ndarray]]:
    """{class id: [feat_num values + area in 1/32 blocks of the image, one row per instance]}."""
    encoder = None if opt.load_features else load_run_encoder(opt)
    rows: Dict[int, List[np.ndarray]] = defaultdict(list)
    dataset = create_dataset(opt)
    for i, batch in enumerate(dataset):
        regions = pooling_regions(opt, batch["label"], None if opt.no_instance else batch["inst"]).to(opt.device)
        with torch.no_grad():
            if encoder is None:  # the stored maps are not exactly constant where they were resized
                feat = hd.instance_average(batch["feat"].to(opt.device, torch.get_default_dtype()), regions)[0]
            else:
                feat = encoder(batch["image"].to(opt.device, torch.get_default_dtype()), regions)[0]
        blocks = regions.shape[-2] * regions.shape[-1] // 32
        ids, counts = torch.unique(regions[0, 0], return_counts=True)
        for value, count in zip(ids.tolist(), counts.tolist()):
            mask = regions[0, 0] == value
            vector = feat[:, mask][:, 0].double().cpu().numpy()
            rows[class_of_instance(int(value))].append(np.append(vector, count / blocks))
        logger.info("encoded %d/%d %s", i + 1, len(dataset), batch["path"][0])
    return rows


def cluster(rows: Dict[int, List[np.ndarray]], n_clusters: int, feat_num: int) -> Dict[str, np.ndarray]:
    """k-means centres per class from the instances large enough to matter."""
    from sklearn.cluster import KMeans

    centres: Dict[str, np.ndarray] = {}
    for label in sorted(rows):
        features = np.stack(rows[label])
        features = features[features[:, -1] > MIN_AREA_BLOCKS, :feat_num]
        if not len(features):
            continue
        k = min(len(features), n_clusters)
        kmeans = KMeans(n_clusters=k, random_state=0, n_init=10).fit(features)
        centres[str(label)] = kmeans.cluster_centers_.astype(np.float64)
        logger.info("class %d: %d instances, %d clusters", label, len(features), k)
    return centres


def main() -> None:
    opt = TrainOptions().parse(save=False)
    setup_logging(opt.verbose)
    if opt.model != "pix2pixhd" or not (opt.instance_feat or opt.label_feat):
        raise UserError("cluster_features.py needs --model pix2pixhd with --instance_feat or --label_feat: it "
                        "clusters the features the generator was trained with")
    if opt.n_clusters < 1:
        raise UserError(f"--n_clusters must be at least 1, got {opt.n_clusters}")
    opt.batch_size, opt.serial_batches, opt.no_flip, opt.phase = 1, True, True, "train"
    try:
        import sklearn  # noqa: F401
    except ImportError as err:
        raise UserError("cluster_features.py needs scikit-learn: pip install -r requirements.txt") from err
    centres = cluster(encode_training_set(opt), opt.n_clusters, opt.feat_num)
    if not centres:
        raise UserError("no instance covers more than 1/64 of an image: nothing to cluster")
    path = Path(opt.checkpoints_dir) / opt.name / f"features_clustered_{opt.n_clusters:03d}.npz"
    atomic_write(path, lambda f: np.savez(f, **centres))
    logger.info("saved the cluster centres of %d classes to %s", len(centres), path)


if __name__ == "__main__":
    run_cli(main)
