"""train.py and test.py as a user runs them, on tiny real image files: outputs, resume, stops and bad input."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import (FIXTURES, TINY, TINY_TEST, assert_same_weights, make_unaligned, needs_fixture,
                            run_script, start_script, latest_weights, write_image)

LEGACY = FIXTURES / "legacy"
pytestmark = pytest.mark.slow  # every test here runs train.py or test.py


def train(dataroot: Path, ckpt: Path, name: str, *extra: str, check: bool = True):
    return run_script("train.py", ["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", name,
                                   *TINY, "--print_freq", "1", "--display_freq", "2", *extra], check=check)


def test_cycle_gan_train_then_test(unaligned_root: Path, tmp_path: Path) -> None:
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    train(unaligned_root, ckpt, "cyc", "--n_epochs", "1", "--n_epochs_decay", "1", "--save_epoch_freq", "1")
    run_dir = ckpt / "cyc"
    for prefix in ("latest", "1", "2"):
        for net in ("G_A", "G_B", "D_A", "D_B"):
            assert (run_dir / f"{prefix}_net_{net}.pth").is_file()
    assert (run_dir / "latest_train_state.pth").is_file() and (run_dir / "train_opt.txt").is_file()
    log_lines = [l for l in (run_dir / "loss_log.txt").read_text().splitlines() if l.startswith("(epoch")]
    assert len(log_lines) == 8 and "D_A: " in log_lines[0] and "idt_B: " in log_lines[0]
    assert (run_dir / "web" / "index.html").is_file()
    assert not list(run_dir.glob(".*.tmp"))  # no temporary files left behind

    run_script("test.py", ["--dataroot", str(unaligned_root), "--checkpoints_dir", str(ckpt), "--name", "cyc",
                           "--model", "cycle_gan", "--results_dir", str(results), *TINY_TEST, "--load_size", "32"])
    page = results / "cyc" / "test_latest"
    assert (page / "index.html").is_file()
    images = sorted(p.name for p in (page / "images").iterdir())
    assert len(images) == 4 * 6 and "a0_fake_B.png" in images and "a0_rec_A.png" in images

    run_script("test.py", ["--dataroot", str(unaligned_root / "testA"), "--checkpoints_dir", str(ckpt),
                           "--name", "cyc", "--model", "test", "--model_suffix", "_A", "--results_dir", str(results),
                           "--epoch", "1", *TINY_TEST, "--load_size", "32"])
    fake = Image.open(results / "cyc" / "test_1" / "images" / "a2_fake.png")
    assert fake.size == (32, 32)


def test_pix2pix_train_then_test(aligned_root: Path, tmp_path: Path) -> None:
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    train(aligned_root, ckpt, "p2p", "--model", "pix2pix", "--netG", "unet_128", "--n_epochs", "1",
          "--n_epochs_decay", "0", "--direction", "BtoA", "--load_size", "128", "--crop_size", "128")
    assert sorted(p.name for p in (ckpt / "p2p").glob("latest_net_*.pth")) == ["latest_net_D.pth", "latest_net_G.pth"]
    run_script("test.py", ["--dataroot", str(aligned_root), "--checkpoints_dir", str(ckpt), "--name", "p2p",
                           "--model", "pix2pix", "--direction", "BtoA", "--results_dir", str(results), "--eval",
                           "--gpu_ids", "-1", "--num_test", "3", "--load_size", "128", "--crop_size", "128"])
    images = sorted(p.name for p in (results / "p2p" / "test_latest" / "images").iterdir())
    assert images == sorted(f"{i}_{v}.png" for i in range(3) for v in ("real_A", "fake_B", "real_B"))


@needs_fixture(LEGACY)
def test_legacy_pretrained_checkpoint_reproduces_reference_images(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run_script("test.py", ["--dataroot", str(LEGACY / "images"), "--checkpoints_dir", str(LEGACY / "checkpoints"),
                           "--name", "resnet_in", "--model", "test", "--netG", "resnet_9blocks", "--norm", "instance",
                           "--no_dropout", "--ngf", "8", "--load_size", "256", "--crop_size", "256", "--eval",
                           "--gpu_ids", "-1", "--results_dir", str(results)])
    expected = LEGACY / "expected" / "resnet_in" / "test_latest" / "images"
    ours = results / "resnet_in" / "test_latest" / "images"
    names = sorted(p.name for p in expected.iterdir())
    assert sorted(p.name for p in ours.iterdir()) == names
    for name in names:
        a = np.asarray(Image.open(expected / name), dtype=np.int16)
        b = np.asarray(Image.open(ours / name), dtype=np.int16)
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= 1, name  # the reference truncates to uint8, we round


def test_resume_after_epoch_is_bitwise_identical(unaligned_root: Path, tmp_path: Path) -> None:
    common = ["--seed", "3", "--lr_policy", "step", "--pool_size", "2", "--n_epochs_decay", "0",
              "--save_latest_freq", "3"]
    train(unaligned_root, tmp_path, "full", *common, "--n_epochs", "3")
    train(unaligned_root, tmp_path, "split", *common, "--n_epochs", "2")
    first_part = latest_weights(tmp_path / "split")
    proc = train(unaligned_root, tmp_path, "split", *common, "--n_epochs", "3", "--continue_train")
    assert "continuing at epoch 3" in proc.stdout
    assert_same_weights(latest_weights(tmp_path / "full"), latest_weights(tmp_path / "split"))
    with pytest.raises(AssertionError):
        assert_same_weights(first_part, latest_weights(tmp_path / "split"))


def test_resume_follows_the_schedule_flags_given_now(unaligned_root: Path, tmp_path: Path) -> None:
    common = ["--seed", "4", "--pool_size", "0"]
    schedule = ["--n_epochs", "2", "--n_epochs_decay", "2"]
    train(unaligned_root, tmp_path, "straight", *common, *schedule)
    train(unaligned_root, tmp_path, "extended", *common, "--n_epochs", "1", "--n_epochs_decay", "0")
    proc = train(unaligned_root, tmp_path, "extended", *common, *schedule, "--continue_train")
    assert "the learning-rate schedule changed" in proc.stdout and "continuing at lr 0.0002" in proc.stdout
    assert_same_weights(latest_weights(tmp_path / "straight"), latest_weights(tmp_path / "extended"))


def test_seeded_runs_repeat(unaligned_root: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        train(unaligned_root, tmp_path, name, "--seed", "7", "--n_epochs", "1", "--n_epochs_decay", "0")
    assert_same_weights(latest_weights(tmp_path / "a"), latest_weights(tmp_path / "b"))


def test_sigterm_saves_and_resume_matches_uninterrupted(tmp_path: Path) -> None:
    dataroot = make_unaligned(tmp_path / "data", n=8)  # 8 iterations an epoch: the stop lands mid-epoch
    args = ["--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path), *TINY, "--print_freq", "1",
            "--seed", "5", "--n_epochs", "1", "--n_epochs_decay", "1", "--pool_size", "3", "--display_freq", "100"]
    run_script("train.py", [*args, "--name", "full"])
    proc = start_script("train.py", [*args, "--name", "cut"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True)
    log = tmp_path / "cut" / "loss_log.txt"
    deadline = time.time() + 120
    while time.time() < deadline:  # stop it in the middle of epoch 2
        if log.exists() and "(epoch: 2, iters: 1," in log.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "before stopping" in out
    state = torch.load(tmp_path / "cut" / "latest_train_state.pth", weights_only=False)
    assert state["counters"]["total_iters"] < 16 and not state["counters"]["epoch_done"]
    resumed = run_script("train.py", [*args, "--name", "cut", "--continue_train"])
    assert "continuing at epoch" in resumed.stdout
    assert_same_weights(latest_weights(tmp_path / "full"), latest_weights(tmp_path / "cut"))


def test_checkpoint_of_another_architecture_names_the_flag(unaligned_root: Path, tmp_path: Path) -> None:
    train(unaligned_root, tmp_path, "cyc", "--n_epochs", "1", "--n_epochs_decay", "0")
    proc = run_script("test.py", ["--dataroot", str(unaligned_root / "testA"), "--checkpoints_dir", str(tmp_path),
                                  "--name", "cyc", "--model", "test", "--model_suffix", "_A", "--results_dir",
                                  str(tmp_path / "r"), *TINY_TEST, "--ngf", "16"], check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--ngf" in lines[0] and "latest_net_G_A.pth" in lines[0], proc.stderr


def test_corrupt_image_is_named(unaligned_root: Path, tmp_path: Path) -> None:
    bad = unaligned_root / "trainA" / "broken.png"
    bad.write_bytes(b"this is not a png")
    for threads in ("0", "1"):
        proc = train(unaligned_root, tmp_path, "bad", "--n_epochs", "1", "--n_epochs_decay", "0",
                     "--serial_batches", "--num_threads", threads, check=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "broken.png" in lines[0] and "cannot read image" in lines[0], proc.stderr


@pytest.mark.parametrize("model", ["colorization", "template"])
def test_colorization_and_template_train_then_test(model: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    for phase in ("train", "test"):
        for i in range(2):
            write_image(root / phase / f"{i}.png", (32, 32), seed=i)
    extra = ["--netG", "unet_128", "--load_size", "128", "--crop_size", "128"]
    train(root, tmp_path / "ckpt", model, "--model", model, "--dataset_mode", model if model == "colorization"
          else "template", "--n_epochs", "1", "--n_epochs_decay", "0", *extra)
    run_script("test.py", ["--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ckpt"), "--name", model,
                           "--model", model, "--dataset_mode", "colorization" if model == "colorization"
                           else "template", "--results_dir", str(tmp_path / "r"), *TINY_TEST, *extra])
    images = sorted(p.name for p in (tmp_path / "r" / model / "test_latest" / "images").iterdir())
    visuals = ["real_A", "real_B_rgb", "fake_B_rgb"] if model == "colorization" else ["data_A", "data_B", "output"]
    assert images == sorted(f"{i}_{v}.png" for i in range(2) for v in visuals)
    rgb = np.asarray(Image.open(tmp_path / "r" / model / "test_latest" / "images" / f"0_{visuals[1]}.png"))
    assert rgb.shape == (128, 128, 3) and rgb.std() > 5  # a real picture, not a blank
