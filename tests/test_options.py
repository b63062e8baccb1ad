"""Options: reference flags and defaults, hooks, suffix, saved option files, and one-line errors for bad values."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from models.architectures import ARCHITECTURE_FLAGS, add_architecture_flags
from options.test_options import TestOptions
from options.train_options import TrainOptions
from tests.conftest import TINY, run_script
from util.errors import UserError
from util.saved_options import read_saved_flags


def test_reference_defaults(unaligned_root: Path, tmp_path: Path) -> None:
    opt = TrainOptions().parse(["--dataroot", str(unaligned_root), "--checkpoints_dir", str(tmp_path)], save=False)
    assert (opt.model, opt.netG, opt.netD, opt.norm, opt.ngf, opt.ndf) == ("cycle_gan", "resnet_9blocks", "basic",
                                                                            "instance", 64, 64)
    assert (opt.load_size, opt.crop_size, opt.batch_size, opt.preprocess) == (286, 256, 1, "resize_and_crop")
    assert (opt.n_epochs, opt.n_epochs_decay, opt.lr, opt.beta1, opt.gan_mode, opt.pool_size) == (
        100, 100, 0.0002, 0.5, "lsgan", 50)
    assert opt.no_dropout is True and opt.lambda_A == 10.0 and opt.lambda_identity == 0.5
    assert opt.device.type == "cpu" and opt.isTrain


def test_pix2pix_hook_defaults(aligned_root: Path, tmp_path: Path) -> None:
    opt = TrainOptions().parse(["--dataroot", str(aligned_root), "--model", "pix2pix",
                                "--checkpoints_dir", str(tmp_path)], save=False)
    assert (opt.netG, opt.norm, opt.dataset_mode, opt.pool_size, opt.gan_mode, opt.lambda_L1) == (
        "unet_256", "batch", "aligned", 0, "vanilla", 100.0)
    assert opt.no_dropout is False


def test_test_options_load_size_follows_crop_size(unaligned_root: Path, tmp_path: Path) -> None:
    opt = TestOptions().parse(["--dataroot", str(unaligned_root), "--crop_size", "128",
                               "--checkpoints_dir", str(tmp_path), "--results_dir", str(tmp_path)], save=False)
    assert opt.model == "test" and opt.dataset_mode == "single" and opt.load_size == 128 and not opt.isTrain


def test_suffix_and_saved_options(unaligned_root: Path, tmp_path: Path) -> None:
    opt = TrainOptions().parse(["--dataroot", str(unaligned_root), "--checkpoints_dir", str(tmp_path),
                                "--name", "run", "--suffix", "{model}_{netG}_size{load_size}", "--ngf", "8"])
    assert opt.name == "run_cycle_gan_resnet_9blocks_size286"
    text = (tmp_path / opt.name / "train_opt.txt").read_text()
    assert text.startswith("----------------- Options ---------------")
    assert any(line.strip().startswith("ngf: 8") and "[default: 64]" in line for line in text.splitlines())


def test_test_inherits_architecture_from_training_run(unaligned_root: Path, tmp_path: Path) -> None:
    TrainOptions().parse(["--dataroot", str(unaligned_root), "--checkpoints_dir", str(tmp_path), "--name", "r",
                          "--netG", "unet_128", "--ngf", "8", "--norm", "batch"])
    opt = TestOptions().parse(["--dataroot", str(unaligned_root), "--checkpoints_dir", str(tmp_path), "--name", "r",
                               "--norm", "none", "--results_dir", str(tmp_path)], save=False)
    assert (opt.netG, opt.ngf, opt.no_dropout) == ("unet_128", 8, True)
    assert opt.norm == "none"  # given on the command line: kept


def test_saved_flags_are_read_with_the_parser_types(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_architecture_flags(parser)
    saved = tmp_path / "train_opt.txt"
    saved.write_text("----------------- Options ---------------\n"
                     "                     netG: resnet_4blocks                \t[default: resnet_9blocks]\n"
                     "                      ngf: 8                             \t[default: 64]\n"
                     "               no_dropout: True                          \t[default: False]\n"
                     "----------------- End -------------------\n")
    assert read_saved_flags(saved, parser, ARCHITECTURE_FLAGS) == {"netG": "resnet_4blocks", "ngf": 8,
                                                                   "no_dropout": True}
    assert read_saved_flags(tmp_path / "missing.txt", parser, ARCHITECTURE_FLAGS) == {}
    saved.write_text("ngf: eight\n")
    with pytest.raises(UserError, match="train_opt.txt: cannot read ngf = 'eight'"):
        read_saved_flags(saved, parser, ["ngf"])


@pytest.mark.parametrize("args, needle", [
    (["--model", "nope"], "--model"),
    (["--netG", "resnet_0blocks"], "--netG"),
    (["--norm", "group"], "--norm"),
    (["--preprocess", "zoom"], "--preprocess"),
    (["--crop_size", "300"], "--crop_size"),
    (["--gpu_ids", "7"], "--gpu_ids"),
    (["--gpu_ids", "x"], "--gpu_ids"),
    (["--direction", "AtoC"], "--direction"),
    (["--batch_size", "0"], "--batch_size"),
    (["--model", "pix2pix", "--load_size", "200", "--crop_size", "200"], "--crop_size"),
    (["--netG", "unet_128", "--preprocess", "scale_width", "--load_size", "100"], "--load_size"),
])
def test_bad_values_exit_with_one_line(unaligned_root: Path, tmp_path: Path, args, needle) -> None:
    proc = run_script("train.py", ["--dataroot", str(unaligned_root), "--checkpoints_dir", str(tmp_path), *args],
                      check=False, timeout=120)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("make, needle", [
    (lambda p: p / "missing", "missing"),
    (lambda p: (p / "empty" / "trainA").mkdir(parents=True) or (p / "empty" / "trainB").mkdir() or p / "empty",
     "trainA"),
])
def test_bad_dataroot(tmp_path: Path, make, needle) -> None:
    root = make(tmp_path)
    proc = run_script("train.py", ["--dataroot", str(root), "--checkpoints_dir", str(tmp_path), *TINY],
                      check=False, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()
    assert len(last) == 1 and needle in last[0] and ("dataroot" in last[0] or "folder" in last[0]), proc.stderr


def test_default_gpu_falls_back_to_cpu_with_warning(unaligned_root: Path, tmp_path: Path) -> None:
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the fallback is for machines without it")
    opts = TrainOptions()
    opt = opts.parse(["--dataroot", str(unaligned_root), "--checkpoints_dir", str(tmp_path)], save=False)
    assert opt.gpu_ids == [] and opt.device.type == "cpu"


def test_abbreviated_flags_are_refused(unaligned_root: Path, tmp_path: Path) -> None:
    proc = run_script("train.py", ["--dataroot", str(unaligned_root), "--checkpoints_dir", str(tmp_path),
                                   *TINY, "--no_drop"], check=False)
    assert proc.returncode == 2 and "unrecognized arguments: --no_drop" in proc.stderr
    assert not (tmp_path / "experiment_name").exists()


def test_test_opt_txt_records_the_test_time_settings(unaligned_root: Path, tmp_path: Path) -> None:
    TestOptions().parse(["--dataroot", str(unaligned_root / "testA"), "--checkpoints_dir", str(tmp_path),
                         "--results_dir", str(tmp_path), "--name", "run"])
    saved = (tmp_path / "run" / "test_opt.txt").read_text()
    assert "serial_batches: True" in saved and "no_flip: True" in saved
