"""Validation during training (evaluation/validation.py, train.py --val_freq) and the option fixes of issue 11:
previews, metrics, the best checkpoint, the training page in Chromium, --help and --num_threads."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from evaluation import metrics
from options import base_options
from options.test_options import TestOptions
from options.train_options import TrainOptions
from tests.browser import CHROMIUM, capture_page
from tests.conftest import ROOT, TINY, make_aligned, make_unaligned, no_weights_env, run_script, script_command
from util.process import stop_process

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")


# ---------------------------------------------------------------------------------------------------- options
def test_train_help_lists_the_chosen_model_and_dataset_flags(capsys):
    with pytest.raises(SystemExit) as stop:
        TrainOptions().parse(["--help", "--model", "pix2pix", "--dataset_mode", "template"], save=False)
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--lambda_L1", "--new_dataset_option", "--val_freq", "--save_best", "--dataroot"):
        assert flag in out
    assert "--lambda_A" not in out                              # cycle_gan's, not the chosen model's
    with pytest.raises(SystemExit):
        TrainOptions().parse(["-h"], save=False)                # the default model, cycle_gan
    assert "--lambda_A" in capsys.readouterr().out


def test_test_help_lists_model_suffix(capsys):
    with pytest.raises(SystemExit) as stop:
        TestOptions().parse(["--help"], save=False)
    assert stop.value.code == 0 and "--model_suffix" in capsys.readouterr().out


@pytest.mark.parametrize("cores,expected", [(1, 1), (2, 2), (64, 4)])
def test_num_threads_default_follows_the_machine(tmp_path, monkeypatch, cores, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert base_options.default_num_threads() == expected
    opt = TrainOptions().parse(["--dataroot", str(tmp_path), "--gpu_ids", "-1"], save=False)
    assert opt.num_threads == expected


def test_save_best_needs_validation_metrics(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        TrainOptions().parse(["--dataroot", str(tmp_path), "--save_best", "psnr"], save=False)
    assert stop.value.code == 2 and "--save_best: needs validation metrics" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- pix2pix
def train(root: Path, checkpoints: Path, name: str, *extra: str, env=None):
    return run_script("train.py", ["--dataroot", str(root), "--checkpoints_dir", str(checkpoints), "--name", name,
                                   *TINY, "--netG", "resnet_6blocks", "--batch_size", "2", "--seed", "0", *extra],
                      env=env)


def weights_of(path: Path):
    return torch.load(path, map_location="cpu", weights_only=True)


@needs_chromium
def test_pix2pix_validation_previews_metrics_best_checkpoint_and_page(tmp_path):
    root = make_aligned(tmp_path / "aligned", n=4)
    common = ["--model", "pix2pix", "--n_epochs", "1", "--n_epochs_decay", "2", "--save_epoch_freq", "1",
              "--print_freq", "1000", "--display_freq", "1000"]
    train(root, tmp_path / "ck", "val", *common, "--val_freq", "1", "--val_size", "4", "--preview_images", "2",
          "--save_best", "psnr")
    run = tmp_path / "ck" / "val"

    # metrics after every epoch: metrics.json, metrics.csv, loss_log.txt
    records = json.loads((run / "metrics.json").read_text())["records"]
    assert [(r["epoch"], r["step"], r["images"]) for r in records] == [(1, 4, 4), (2, 8, 4), (3, 12, 4)]
    assert all(set(r["values"]) == {"l1", "psnr", "ssim"} for r in records)
    assert len((run / "metrics.csv").read_text().splitlines()) == 4
    log = (run / "loss_log.txt").read_text()
    assert log.count(", validation: 4 images, ") == 3 and "G_GAN" not in log  # no --print_freq crossing
    assert all(0 < r["metric_seconds"] <= r["seconds"] for r in records)  # the metrics' share, also in the log
    assert len(re.findall(r"validation: 4 images, [0-9.]+ s, metrics [0-9.]+ s\)", log)) == 3

    # the best checkpoint set is the epoch with the highest PSNR, weights and training state
    psnr = [r["values"]["psnr"] for r in records]
    best = 1 + int(np.argmax(psnr))
    for net in ("G", "D"):
        saved, epoch_file = weights_of(run / f"best_net_{net}.pth"), weights_of(run / f"{best}_net_{net}.pth")
        assert all(torch.equal(saved[k], epoch_file[k]) for k in epoch_file)
    state = torch.load(run / "best_train_state.pth", map_location="cpu", weights_only=False)
    assert state["counters"]["epoch"] == best and state["counters"]["epoch_done"]

    # previews: the first two validation images, the inputs one file for every epoch, a translation per epoch
    images = run / "web" / "images"
    previews = sorted(p.name for p in images.glob("*preview*"))
    assert previews == sorted([f"preview_{i}_{label}.png" for i in (0, 1) for label in ("real_A", "real_B")] +
                              [f"preview_epoch{e:03d}_{i}_fake_B.png" for e in (1, 2, 3) for i in (0, 1)])
    with Image.open(root / "val" / "1.png") as pair:             # the B half of the second val image,
        expected = np.asarray(pair.crop((40, 0, 80, 40)).resize((32, 32), Image.BICUBIC), dtype=np.int16)
    shown = np.asarray(Image.open(images / "preview_1_real_B.png"), dtype=np.int16)  # resized as test.py reads it
    assert np.abs(shown - expected).max() <= 1

    # the first loss point comes at once (x = epochs done), the page says when the next comes, and it shows the
    # rate after the last step
    history = json.loads((run / "web" / "loss_history.json").read_text())
    assert history["X"] == [0.5]
    report = capture_page(run / "web" / "index.html", "validation_run_page.png", width=1400)
    assert "learning rate\t0" in report["summary"] and report["pageWidth"] <= 1400
    assert any("the next comes after --print_freq 1000 samples" in note for note in report["notes"]), report["notes"]
    assert report["images"] and all(im["ok"] for im in report["images"]), report["images"]
    rows = [im["src"] for im in report["images"] if "preview" in im["src"]]
    assert rows[:4] == ["images/preview_0_real_A.png", "images/preview_epoch003_0_fake_B.png",
                        "images/preview_0_real_B.png", "images/preview_1_real_A.png"]  # newest row first
    assert rows.count("images/preview_0_real_A.png") == 3       # the same input file in every row
    assert report["metrics"] == [{"metric": m, "points": 3} for m in ("l1", "psnr", "ssim")]
    assert all(im["shown"] == 64 for im in report["images"])  # 32 px images at twice their size

    # validation leaves the random generators alone: the same run without it trains to the same weights
    train(root, tmp_path / "ck", "plain", *common)
    with_val, without = weights_of(run / "latest_net_G.pth"), weights_of(tmp_path / "ck" / "plain" / "latest_net_G.pth")
    assert all(torch.equal(with_val[k], without[k]) for k in without)


# ---------------------------------------------------------------------------------------------------- cycle_gan
def test_cycle_gan_without_inception_weights_previews_only_with_one_note(tmp_path):
    root = make_unaligned(tmp_path / "unaligned", n=3)       # testA/testB only: the fallback folders
    env = no_weights_env(tmp_path)
    common = ["--n_epochs", "1", "--n_epochs_decay", "1", "--val_freq", "1", "--preview_images", "1"]
    proc = train(root, tmp_path / "ck", "cyc", *common, env=env)
    output = (proc.stdout + proc.stderr).splitlines()
    notes = [line for line in output if metrics.missing_weights_message() in line]
    assert len(notes) == 1 and "previews only" in notes[0]
    run = tmp_path / "ck" / "cyc"
    assert not (run / "metrics.json").exists()
    assert sorted(p.name for p in (run / "web" / "images").glob("preview_epoch002_*")) == [
        "preview_epoch002_0_fake_A.png", "preview_epoch002_0_fake_B.png"]

    proc = run_script("train.py", ["--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ck"), "--name", "b",
                                   *TINY, *common, "--save_best", "fid"], check=False, env=env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.strip().startswith("error: argument --save_best: fid is not measured for this run")


def test_cycle_gan_fid_and_kid_both_directions_with_weights(tmp_path, weights):
    root = make_unaligned(tmp_path / "unaligned", n=3)
    train(root, tmp_path / "ck", "cyc", "--n_epochs", "2", "--n_epochs_decay", "0", "--val_freq", "2",
          "--preview_images", "0", "--inception_weights", str(weights), "--save_best", "kid")
    run = tmp_path / "ck" / "cyc"
    records = json.loads((run / "metrics.json").read_text())["records"]
    assert [r["epoch"] for r in records] == [2]                 # every --val_freq epochs
    assert set(records[0]["values"]) == {"fid_A", "fid_B", "kid_A", "kid_B", "kid_std_A", "kid_std_B"}
    assert all(np.isfinite(v) for v in records[0]["values"].values())
    assert (run / "best_net_G_A.pth").is_file() and (run / "best_train_state.pth").is_file()
    assert not list((run / "web" / "images").glob("*preview*"))


@pytest.mark.slow  # two training processes under torchrun
def test_ddp_ranks_agree_on_the_best_checkpoint(tmp_path):
    """Saving the best set is a collective, and only rank 0 holds the metric history: every rank follows its
    decision. The generator cannot move (lr 1e-12, instance norm), so epochs 2 and 3 tie with epoch 1 and are not
    the best: a rank deciding alone would save them and hang the run."""
    from tests.test_distributed import TORCHRUN

    root = make_aligned(tmp_path / "aligned", n=2)
    command, env = script_command("train.py", [
        "--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ck"), "--name", "ddp", *TINY, "--netG",
        "resnet_6blocks", "--model", "pix2pix", "--norm", "instance", "--lr", "1e-12", "--n_epochs", "3",
        "--n_epochs_decay", "0", "--batch_size", "1", "--val_freq", "1", "--val_size", "2", "--preview_images", "0",
        "--save_best", "l1"])
    proc = subprocess.Popen(TORCHRUN + command[1:], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=600)  # a bound for a hang, far above a run's time under load
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: torchrun then ends its ranks (killing them after 30 s in a stuck collective)
        stop_process(proc, timeout=60)
        pytest.fail("the ranks hung (they disagreed on saving the best set)")
    assert proc.returncode == 0, stderr[-3000:]
    run = tmp_path / "ck" / "ddp"
    records = json.loads((run / "metrics.json").read_text())["records"]
    assert [r["epoch"] for r in records] == [1, 2, 3] and len({r["values"]["l1"] for r in records}) == 1
    assert stdout.count("saving the best checkpoint set") == 1
    state = torch.load(run / "best_train_state.pth", map_location="cpu", weights_only=False)
    assert state["counters"]["epoch"] == 1


@pytest.mark.slow  # reads the Inception network
def test_cycle_gan_directions_share_one_inception_network(tmp_path, weights):
    from evaluation.validation import create_validation
    from models import create_model

    root = make_unaligned(tmp_path / "unaligned", n=2)
    opt = TrainOptions().parse(["--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ck"), *TINY,
                                "--val_freq", "1", "--inception_weights", str(weights)], save=False)
    validation = create_validation(opt, create_model(opt))
    first, second = validation.evaluators
    assert first.features is not None and second.features is first.features
