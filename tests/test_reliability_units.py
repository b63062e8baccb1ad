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

from data.aligned_dataset import warn_if_not_pairs
from data.image_folder import load_image
from models import create_model
from models.base_model import NonFiniteWeightsError
from options.train_options import TrainOptions
from tests.conftest import TINY, make_unaligned
from util import fileio
from util.fileio import (JOURNAL_NAME, DiskFullError, atomic_write_group, check_writable_dir,
                         recover_interrupted_saves)
from util.runlock import LOCK_NAME, RunLock, RunLockedError, finish_interrupted_save


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
