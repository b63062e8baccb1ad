"""pix2pixHD end to end on NVIDIA's Cityscapes sample at 64x128: train with features, resume, cluster, test."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import SHARED, assert_same_weights, latest_weights, needs_fixture, run_script
from tests.test_pix2pixhd import make_hd_dataset

SAMPLE = SHARED / "data" / "cityscapes_sample"
TINY_HD = ["--model", "pix2pixhd", "--dataroot", str(SAMPLE), "--gpu_ids", "-1", "--ngf", "8",
           "--n_downsample_global", "2", "--n_blocks_global", "2", "--instance_feat", "--nef", "8",
           "--n_downsample_E", "2", "--loadSize", "128", "--fineSize", "64", "--num_threads", "0"]
TRAIN = TINY_HD + ["--ndf", "8", "--num_D", "2", "--no_vgg_loss", "--display_id", "0", "--print_freq", "4",
                   "--display_freq", "4", "--update_html_freq", "4",
                   "--max_dataset_size", "4", "--seed", "0"]


def epochs_logged(run_dir: Path) -> list:
    lines = [l for l in (run_dir / "loss_log.txt").read_text().splitlines() if l.startswith("(epoch")]
    return [int(l.split(",")[0].split()[1]) for l in lines]


@pytest.mark.slow
@needs_fixture(SAMPLE, "Cityscapes sample")
def test_train_with_features_resume_cluster_and_test(tmp_path: Path) -> None:
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    common = ["--checkpoints_dir", str(ckpt), "--name", "tiny"]
    run_script("train.py", TRAIN + common + ["--niter", "1", "--niter_decay", "0"])
    run_dir = ckpt / "tiny"
    assert {p.name for p in run_dir.glob("latest_net_*.pth")} == {"latest_net_G.pth", "latest_net_D.pth",
                                                                 "latest_net_E.pth"}
    assert epochs_logged(run_dir) == [1]
    web_images = {p.name for p in (run_dir / "web" / "images").iterdir()}
    assert any(n.endswith("_real_image.png") for n in web_images) and any("synthesized_image" in n for n in web_images)

    run_script("train.py", TRAIN + common + ["--niter", "1", "--niter_decay", "1", "--continue_train"])
    assert epochs_logged(run_dir) == [1, 2]  # the resumed run went on with epoch 2
    g = torch.load(run_dir / "latest_net_G.pth", weights_only=True)
    assert g["model.1.weight"].shape == (8, 35 + 1 + 3, 7, 7)  # one-hot, boundary map, features

    run_script("scripts/pix2pixhd/cluster_features.py", TRAIN + common)
    with np.load(run_dir / "features_clustered_010.npz") as clusters:
        assert clusters.files and "7" in clusters.files  # road is in every scene
        assert all(clusters[k].shape[1] == 3 and 1 <= clusters[k].shape[0] <= 10 for k in clusters.files)

    # the sample's test set has label and instance maps only; architecture flags come from train_opt.txt
    run_script("test.py", ["--model", "pix2pixhd", "--dataroot", str(SAMPLE), "--gpu_ids", "-1", "--loadSize",
                           "128", "--fineSize", "64", *common, "--results_dir", str(results), "--how_many", "3",
                           "--n_samples", "2", "--seed", "1"])
    page = results / "tiny" / "test_latest"
    names = sorted(p.name for p in (page / "images").iterdir())
    assert len(names) == 3 * 3
    stem = "frankfurt_000000_000576_gtFine_labelIds"
    assert {f"{stem}_input_label.png", f"{stem}_synthesized_image.png", f"{stem}_synthesized_image_2.png"} <= set(names)
    assert not any("real_image" in n for n in names)
    first = np.asarray(Image.open(page / "images" / f"{stem}_synthesized_image.png"))
    second = np.asarray(Image.open(page / "images" / f"{stem}_synthesized_image_2.png"))
    assert first.shape == (64, 128, 3) and not np.array_equal(first, second)  # different sampled features
    label = np.asarray(Image.open(page / "images" / f"{stem}_input_label.png"))
    assert (label == [128, 64, 128]).all(axis=-1).any()  # road in Cityscapes' colour
    assert "synthesized_image_2" in (page / "index.html").read_text()

    # --use_encoded_image: features from the encoder on real test photos, which then also appear on the page
    photos = make_hd_dataset(tmp_path / "with_photos", n=2, size=(128, 64), test_images=True)
    run_script("test.py", ["--model", "pix2pixhd", "--dataroot", str(photos), "--gpu_ids", "-1", "--loadSize", "128",
                           "--fineSize", "64", *common, "--results_dir", str(tmp_path / "encoded"),
                           "--use_encoded_image"])
    names = sorted(p.name for p in (tmp_path / "encoded" / "tiny" / "test_latest" / "images").iterdir())
    assert names == sorted(f"s{i}_gtFine_labelIds_{v}.png" for i in range(2)
                           for v in ("input_label", "synthesized_image", "real_image"))


@pytest.mark.slow
@needs_fixture(SAMPLE, "Cityscapes sample")
def test_resume_is_bitwise_a_straight_run_and_tensorboard_logs(tmp_path: Path) -> None:
    """A run stopped after epoch 1 and resumed (random crops and flips, the encoder, the D scales, the lr decay)
    ends bitwise where a straight run does; pix2pixHD's --tf_log is --use_tensorboard."""
    flags = TRAIN + ["--checkpoints_dir", str(tmp_path / "ckpt"), "--max_dataset_size", "2", "--print_freq", "1",
                     "--niter", "1", "--niter_decay", "1"]
    run_script("train.py", flags + ["--name", "straight", "--tf_log"])
    run_script("train.py", flags + ["--name", "resumed", "--niter_decay", "0"])
    run_script("train.py", flags + ["--name", "resumed", "--continue_train"])
    run = tmp_path / "ckpt"
    assert epochs_logged(run / "resumed") == epochs_logged(run / "straight") == [1, 1, 2, 2]
    assert_same_weights(latest_weights(run / "straight"), latest_weights(run / "resumed"))
    assert list((run / "straight" / "tensorboard").glob("events.out.tfevents.*"))
