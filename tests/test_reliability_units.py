"""Checkpoint sets, the run lock, the non-finite guard and 16-bit images, in-process (fast)."""
from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train
from data import create_dataset
from data.aligned_dataset import warn_if_not_pairs
from data.base_dataset import check_input_size, collate
from data.image_folder import load_image
from models import create_model
from models.base_model import NonFiniteWeightsError
from options.train_options import TrainOptions
from scripts import check_dataset, fault_benchmark
from tests.conftest import TINY, make_unaligned
from util import fileio
from util.errors import UserError
from util.fileio import (JOURNAL_NAME, DiskFullError, append_text, atomic_write_group, check_writable_dir,
                         recover_interrupted_saves)
from util.runlock import LOCK_NAME, RunLock, RunLockedError, finish_interrupted_save
from util.seeding import get_rng_state


def writer(data: bytes):
    return lambda f: f.write(data)


def test_group_write_leaves_no_journal_or_temporary_file(tmp_path: Path) -> None:
    atomic_write_group([(tmp_path / "a", writer(b"1")), (tmp_path / "b", writer(b"2"))])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_committed_journal_is_rolled_forward_and_stray_temps_removed(tmp_path: Path) -> None:
    """A crash after the commit: some renames done, the rest done by recovery; an uncommitted temp is deleted."""
    (tmp_path / "a").write_bytes(b"old a")
    (tmp_path / "b").write_bytes(b"old b")
    (tmp_path / ".a.x1.tmp").write_bytes(b"new a")
    (tmp_path / ".b.x2.tmp").write_bytes(b"new b")
    (tmp_path / ".c.x3.tmp").write_bytes(b"garbage of an uncommitted save")
    (tmp_path / JOURNAL_NAME).write_text(json.dumps({"renames": [[".a.x1.tmp", "a"], [".b.x2.tmp", "b"]]}))
    os.replace(tmp_path / ".a.x1.tmp", tmp_path / "a")  # the crash came between the two renames
    repairs = recover_interrupted_saves(tmp_path)
    assert len(repairs) == 2 and "b" in repairs[0] and "1 temporary file" in repairs[1]
    assert (tmp_path / "a").read_bytes() == b"new a" and (tmp_path / "b").read_bytes() == b"new b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    assert recover_interrupted_saves(tmp_path) == []


def test_disk_full_before_the_commit_replaces_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").write_bytes(b"old a")
    (tmp_path / "b").write_bytes(b"old b")

    def full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(DiskFullError, match=f"disk full: no space left in {tmp_path}"):
        atomic_write_group([(tmp_path / "a", writer(b"new a")), (tmp_path / "b", full)])
    assert (tmp_path / "a").read_bytes() == b"old a" and (tmp_path / "b").read_bytes() == b"old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_fault_hook_parses_only_its_forms() -> None:
    for spec in ("rename:2", "write:1", "enospc:7", ""):
        fileio._FaultInjection(spec)
    for spec in ("rename", "crash:1", "write:x"):
        with pytest.raises(ValueError, match=fileio.FAULT_ENV):
            fileio._FaultInjection(spec)


def test_check_writable_dir(tmp_path: Path) -> None:
    assert check_writable_dir(tmp_path / "new" / "deeper") is None
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in check_writable_dir(tmp_path / "file")
    assert "a parent of" in check_writable_dir(tmp_path / "file" / "below")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        if os.access(readonly, os.W_OK) and check_writable_dir(readonly) is None:
            pytest.skip("this user (root) may write into a read-only folder")
        assert "cannot write in" in check_writable_dir(readonly)
    finally:
        readonly.chmod(0o755)


def test_run_lock_refuses_a_second_holder_and_cleans_up(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunLock(run):
        assert f"pid {os.getpid()}" in (run / LOCK_NAME).read_text()
        with pytest.raises(RunLockedError, match=rf"in use by another train.py \(pid {os.getpid()} on host"):
            RunLock(run).acquire()
    assert not run.exists()  # created by the lock, left empty: removed
    with RunLock(tmp_path / "new_checkpoints" / "run"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # a new --checkpoints_dir above it too


def test_stale_lock_is_taken_over_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).write_text("pid 999999 on host gone\n")
    (run / "latest_net_G.pth").write_bytes(b"kept")
    with caplog.at_level(logging.WARNING), RunLock(run):
        pass
    assert "from a process that is gone (pid 999999 on host gone)" in caplog.text
    assert sorted(p.name for p in run.iterdir()) == ["latest_net_G.pth"]


def tiny_model(tmp_path: Path, *extra: str):
    dataroot = make_unaligned(tmp_path / "data", n=1)
    opt = TrainOptions().parse(["--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path / "ckpt"),
                                "--name", "unit", *TINY, *extra], save=False)
    model = create_model(opt)
    model.setup(opt)
    return model


def test_non_finite_gradients_skip_the_step_and_name_the_loss(tmp_path: Path) -> None:
    model = tiny_model(tmp_path, "--model", "template", "--dataset_mode", "unaligned", "--norm", "batch")
    assert any(name.endswith("running_mean") for name in model.netG.state_dict())
    before = {k: v.clone() for k, v in model.netG.state_dict().items()}
    model.set_input({"A": torch.full((1, 3, 32, 32), float("nan")), "B": torch.zeros(1, 3, 32, 32),
                     "A_paths": ["a"], "B_paths": ["b"]})
    problem = model.train_step()
    assert problem is not None and "G=nan" in problem and "step of optimizer skipped" in problem
    assert all(torch.equal(before[k], v) for k, v in model.netG.state_dict().items())
    model.set_input({"A": torch.zeros(1, 3, 32, 32), "B": torch.zeros(1, 3, 32, 32), "A_paths": ["a"],
                     "B_paths": ["b"]})
    assert model.train_step() is None


def test_non_finite_weights_are_never_saved(tmp_path: Path) -> None:
    model = tiny_model(tmp_path, "--model", "template", "--dataset_mode", "unaligned")
    model.save_networks("latest", {"epoch": 1, "epoch_iter": 1, "total_iters": 1, "epoch_done": False,
                                   "epoch_rng": None})
    saved = {p.name: p.read_bytes() for p in Path(model.save_dir).iterdir()}
    with torch.no_grad():
        next(model.netG.parameters())[0] = float("inf")
    with pytest.raises(NonFiniteWeightsError, match=r"network G hold NaN/Inf .*the last good checkpoint "
                                                    r"\(latest, iteration 1\) is intact"):
        model.save_networks("latest", {"epoch": 1, "epoch_iter": 2, "total_iters": 2, "epoch_done": False,
                                       "epoch_rng": None})
    assert {p.name: p.read_bytes() for p in Path(model.save_dir).iterdir()} == saved


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_images_keep_their_range(tmp_path: Path, suffix: str) -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)  # 0, 1, 128, 255 in 8 bits
    path = tmp_path / f"deep{suffix}"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")  # stored at 16 bits, as the test needs
    rgb = np.asarray(load_image(str(path), "RGB"))
    assert rgb[0, :, 0].tolist() == [0, 1, 128, 255] and (rgb[..., 0] == rgb[..., 2]).all()


def test_paired_files_not_side_by_side_warn_once_naming_the_file(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    paths = []
    for name, size in (("good.png", (64, 32)), ("square.png", (32, 32)), ("tall.png", (32, 64))):
        Image.new("RGB", size).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    with caplog.at_level(logging.WARNING):
        warn_if_not_pairs(paths)
    assert len(caplog.records) == 1
    assert "square.png is 32x32, not twice as wide as high (and 1 more file(s))" in caplog.text
    caplog.clear()
    warn_if_not_pairs(paths[:1])
    assert not caplog.records


def test_a_reader_finishes_a_crashed_save_unless_a_run_holds_the_folder(tmp_path: Path) -> None:
    (tmp_path / ".a.x.tmp").write_bytes(b"new a")
    (tmp_path / JOURNAL_NAME).write_text(json.dumps({"renames": [[".a.x.tmp", "a"]]}))
    with RunLock(tmp_path):  # a live run: its save is its own business
        finish_interrupted_save(tmp_path)
        assert (tmp_path / JOURNAL_NAME).is_file()
    finish_interrupted_save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"] and (tmp_path / "a").read_bytes() == b"new a"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full (a device whose writes find the disk full)")
def test_a_full_disk_while_appending_to_a_log_names_the_folder() -> None:
    with pytest.raises(DiskFullError, match="disk full: no space left in /dev to append to full"):
        append_text("/dev/full", "a loss line\n")


def sizes_opt(preprocess: str, netG: str = "unet_128"):
    return TrainOptions().parse(["--dataroot", ".", "--model", "pix2pix", "--dataset_mode", "unaligned", "--netG",
                                 netG, "--preprocess", preprocess, "--load_size", "128", "--crop_size", "128",
                                 "--checkpoints_dir", "/tmp"], save=False)


def test_sizes_that_depend_on_each_image_are_checked_before_the_network() -> None:
    opt = sizes_opt("scale_width")
    fits = {"A": torch.zeros(2, 3, 256, 128), "A_paths": ["a.png", "b.png"], "B": torch.zeros(3, 128, 128),
            "B_paths": "c.png"}
    check_input_size(fits, opt, 128)
    with pytest.raises(UserError, match=r"^'tall.png' is 128x96 after --preprocess scale_width, but --netG unet_128 "
                                        r"needs inputs whose sides are multiples of 128"):
        check_input_size({**fits, "B": torch.zeros(1, 3, 96, 128), "B_paths": ["tall.png"]}, opt, 128)
    check_input_size({"A": torch.zeros(1, 3, 96, 128), "A_paths": ["x"]}, sizes_opt("scale_width_and_crop"), 128)
    check_input_size({"A": torch.zeros(1, 3, 96, 100), "A_paths": ["x"]}, opt, 1)  # the test model pads


def test_check_dataset_finds_the_sizes_train_py_refuses(tmp_path: Path) -> None:
    dataroot = make_unaligned(tmp_path / "data", n=2)
    opt = check_dataset.parse(["--dataroot", str(dataroot), "--preprocess", "none", "--netG", "unet_128"])
    _, lines, _, count = check_dataset.check(opt)
    assert count == 4 and "a0.png' is 40x40 after --preprocess none, but --netG unet_128 needs" in lines[0]
    assert check_dataset.check(check_dataset.parse(["--dataroot", str(dataroot), "--preprocess", "none"]))[3] == 0


def test_a_batch_of_images_of_different_sizes_is_one_line_naming_two() -> None:
    same = [{"A": torch.zeros(3, 32, 32), "A_paths": f"{i}.png"} for i in range(2)]
    assert collate(same)["A"].shape == (2, 3, 32, 32)
    with pytest.raises(UserError, match=r"'0.png' is 32x32 but 'wide.png' is 48x32 after --preprocess, and a batch "
                                        r"needs images of one size; use --batch_size 1"):
        collate(same[:1] + [{"A": torch.zeros(3, 32, 48), "A_paths": "wide.png"}])


def test_the_look_at_the_first_sample_leaves_the_random_state_alone(tmp_path: Path) -> None:
    dataroot = make_unaligned(tmp_path / "data", n=3)  # unaligned, shuffled: a sample draws its B at random
    opt = TrainOptions().parse(["--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path), *TINY], save=False)
    dataset = create_dataset(opt)
    before = get_rng_state()
    train.check_first_sample(dataset, opt)
    after = get_rng_state()
    assert before["python"] == after["python"] and np.array_equal(before["numpy"][1], after["numpy"][1])
    assert torch.equal(before["torch"], after["torch"])


def test_the_fault_benchmark_imports_and_parses() -> None:
    args = fault_benchmark.build_parser().parse_args(["--random_kills", "1", "--save_kills", "0"])
    assert (args.random_kills, args.save_kills, args.jobs) == (1, 0, 2)
