"""A run that cannot be lost, through the real train.py/test.py: divergence, concurrent runs, failed commands,
checkpoint sets split by a crash, and one line (no traceback) for every failure."""
from __future__ import annotations

import hashlib
import signal
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from tests.conftest import (TINY, TINY_TEST, assert_same_weights, latest_weights, make_unaligned, run_script,
                            start_script)
from util.fileio import FAULT_ENV, JOURNAL_NAME
from util.runlock import LOCK_NAME

pytestmark = pytest.mark.slow  # every test here runs train.py or test.py


def train(dataroot: Path, ckpt: Path, name: str, *extra: str, env: Dict[str, str] = None,
          check: bool = True) -> subprocess.CompletedProcess:
    return run_script("train.py", ["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", name,
                                   *TINY, "--print_freq", "1", "--display_freq", "100", *extra], check=check, env=env)


def hashes(folder: Path) -> Dict[str, str]:
    """SHA-256 of every file below ``folder``, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """The single stderr line of a failed command, checked for exit status 2, no traceback and ``words``."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, proc.stderr)
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name in (JOURNAL_NAME, LOCK_NAME))


# ---------------------------------------------------------------------------------------------- 1. divergence
def test_divergence_skips_steps_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    data = make_unaligned(tmp_path / "data", n=8)  # the stop comes before the end of the epoch (and its save)
    train(data, tmp_path, "div", "--n_epochs", "1", "--n_epochs_decay", "0")
    run = tmp_path / "div"
    good = {k: v for k, v in hashes(run).items() if k.startswith("latest_")}
    proc = train(data, tmp_path, "div", "--continue_train", "--n_epochs", "20", "--n_epochs_decay", "0",
                 "--lr", "1e30", "--max_bad_steps", "3", check=False)
    line = one_line_error(proc, "training diverged: 3 steps in a row", "--max_bad_steps 3", "G_A=nan", "--lr")
    assert "is intact" in line
    assert proc.stdout.count("non-finite losses:") == 3 and "step of optimizer_G, optimizer_D skipped" in proc.stdout
    assert {k: v for k, v in hashes(run).items() if k.startswith("latest_")} == good
    for state in latest_weights(run).values():
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_a_run_that_ends_in_bad_steps_fails_and_saves_nothing_after_them(tmp_path: Path) -> None:
    """The issue's flags on a run shorter than --max_bad_steps: the first step makes the weights huge (finite), every
    later one is NaN; the epoch's save would write weights that give NaN, so it is skipped and the run fails."""
    data = make_unaligned(tmp_path / "data", n=4)
    proc = train(data, tmp_path, "short", "--n_epochs", "1", "--n_epochs_decay", "0", "--lr", "1e30", "--init_gain",
                 "1e3", check=False)
    one_line_error(proc, "training ended in 3 step(s) in a row with NaN/Inf (--max_bad_steps 10 not reached)",
                   "iteration 4", "G_A=nan", "not saved", "not saved a checkpoint yet", "--lr")
    assert "checkpoint 'latest' not saved at iteration 4: the last 3 step(s) had NaN/Inf" in proc.stdout
    assert not list((tmp_path / "short").glob("*.pth"))


# ---------------------------------------------------------------------------------------------- 2. one run per folder
def test_second_run_with_the_same_name_is_refused_and_a_stale_lock_taken_over(tmp_path: Path) -> None:
    data = make_unaligned(tmp_path / "data", n=2)
    args = ["--dataroot", str(data), "--checkpoints_dir", str(tmp_path), "--name", "busy", *TINY,
            "--print_freq", "1", "--display_freq", "100", "--n_epochs", "100000", "--n_epochs_decay", "0"]
    first = start_script("train.py", args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in first.stdout:  # the first loss line: it holds the lock and is training
            if line.startswith("(epoch:"):
                break
        before = hashes(tmp_path / "busy")
        second = train(data, tmp_path, "busy", "--n_epochs", "1", "--n_epochs_decay", "0", check=False)
        one_line_error(second, f"run folder {tmp_path / 'busy'} is in use", f"pid {first.pid} on host")
        assert set(before) <= set(hashes(tmp_path / "busy"))  # the second run wrote nothing (the first goes on)
    finally:
        first.kill()  # kill -9: its lock file stays behind
        first.wait()
    assert (tmp_path / "busy" / LOCK_NAME).read_text().startswith(f"pid {first.pid} ")
    third = train(data, tmp_path, "busy", "--n_epochs", "1", "--n_epochs_decay", "0")
    assert f"from a process that is gone (pid {first.pid} on host" in third.stdout
    assert leftovers(tmp_path / "busy") == []


# ---------------------------------------------------------------------------------------------- 3. failed commands
def test_failed_resume_changes_nothing_and_a_good_one_keeps_the_previous_options(tmp_path: Path) -> None:
    data = make_unaligned(tmp_path / "data", n=2)
    train(data, tmp_path, "run", "--n_epochs", "1", "--n_epochs_decay", "0")
    run = tmp_path / "run"
    before = hashes(run)
    proc = train(data, tmp_path, "run", "--continue_train", "--ngf", "16", check=False)
    one_line_error(proc, "--ngf", "latest_net_G_A.pth")
    assert hashes(run) == before
    # a finished run resumed with a schedule that has already ended: nothing to train, nothing written
    proc = train(data, tmp_path, "run", "--continue_train", "--n_epochs", "1", "--n_epochs_decay", "0",
                 check=False)
    one_line_error(proc, "nothing is left to train", "end at epoch 1")
    assert hashes(run) == before
    old_options = (run / "train_opt.txt").read_text()
    train(data, tmp_path, "run", "--continue_train", "--n_epochs", "2", "--n_epochs_decay", "0")
    assert (run / "train_opt.prev.txt").read_text() == old_options
    assert "n_epochs: 2" in (run / "train_opt.txt").read_text()


# ---------------------------------------------------------------------------------------------- 4. checkpoint sets
CUT_ARGS = ["--seed", "5", "--n_epochs", "1", "--n_epochs_decay", "1", "--pool_size", "3", "--save_latest_freq", "3"]


@pytest.mark.parametrize("fault, left_behind", [
    ("rename:7", [JOURNAL_NAME]),  # the 2nd save (iteration 6) dies after renaming 2 of its 5 files
    ("write:8", []),               # the 2nd save dies halfway through writing its 3rd file
])
def test_kill_during_a_save_then_resume_is_bitwise_an_uninterrupted_run(tmp_path: Path, fault: str,
                                                                         left_behind: List[str]) -> None:
    data = make_unaligned(tmp_path / "data", n=8)
    train(data, tmp_path, "full", *CUT_ARGS)
    cut = train(data, tmp_path, "cut", *CUT_ARGS, env={FAULT_ENV: fault}, check=False)
    assert cut.returncode == 137, cut.stderr
    run = tmp_path / "cut"
    left = leftovers(run)
    assert [name for name in left if not name.endswith(".tmp")] == sorted(left_behind + [LOCK_NAME])
    assert any(name.endswith(".tmp") for name in left)
    resumed = train(data, tmp_path, "cut", *CUT_ARGS, "--continue_train")
    expected_total = 6 if fault.startswith("rename") else 3  # the committed save, or the one before it
    assert f"(total iterations {expected_total})" in resumed.stdout
    assert ("completed an interrupted save" in resumed.stdout) == fault.startswith("rename")
    assert ("temporary file(s) of an interrupted save" in resumed.stdout) == fault.startswith("write")
    assert leftovers(run) == []
    assert_same_weights(latest_weights(tmp_path / "full"), latest_weights(run))


def test_a_split_set_is_refused_on_resume(tmp_path: Path) -> None:
    data = make_unaligned(tmp_path / "data", n=2)
    train(data, tmp_path, "split", "--n_epochs", "2", "--n_epochs_decay", "0", "--save_epoch_freq", "1")
    run = tmp_path / "split"
    (run / "latest_net_G_A.pth").write_bytes((run / "1_net_G_A.pth").read_bytes())  # epoch 1's G_A, epoch 2's rest
    before = hashes(run)
    proc = train(data, tmp_path, "split", "--continue_train", "--n_epochs", "3", "--n_epochs_decay", "0", check=False)
    one_line_error(proc, "checkpoint set 'latest' is inconsistent", "latest_net_G_A.pth")
    assert hashes(run) == before


# ---------------------------------------------------------------------------------------------- 5. one line each
def test_disk_full_during_a_save_says_so_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    data = make_unaligned(tmp_path / "data", n=4)
    args = ["--n_epochs", "1", "--n_epochs_decay", "0", "--save_latest_freq", "2"]
    proc = train(data, tmp_path, "full", *args, env={FAULT_ENV: "enospc:8"}, check=False)  # 2nd save, 3rd file
    run = tmp_path / "full"
    one_line_error(proc, f"disk full: no space left in {run} to save checkpoint 'latest'",
                   "the last good checkpoint (latest, iteration 2) is intact")
    assert leftovers(run) == []
    state = torch.load(run / "latest_train_state.pth", weights_only=False)
    assert state["counters"]["total_iters"] == 2
    resumed = train(data, tmp_path, "full", *args, "--continue_train")  # the set it reads is whole
    assert "(total iterations 2)" in resumed.stdout


@pytest.mark.parametrize("flags, words", [
    (["--lr", "-1"], ["argument --lr", "-1"]),
    (["--lr", "nan"], ["argument --lr", "nan"]),
    (["--beta1", "2"], ["argument --beta1", "2"]),
    (["--model", "pix2pix", "--dataset_mode", "unaligned", "--netG", "unet_128", "--preprocess", "scale_width",
      "--load_size", "100"], ["--load_size 100", "unet_128"]),
    (["--max_bad_steps", "0"], ["argument --max_bad_steps"]),
    (["--model", "pix2pix", "--dataset_mode", "unaligned", "--netG", "unet_128", "--preprocess", "none"],
     ["a0.png' is 40x40 after --preprocess none", "--netG unet_128", "multiples of 128"]),  # the first image, read
])                                                                                          # before any write
def test_bad_values_are_one_line_and_touch_nothing(tmp_path: Path, flags: List[str], words: List[str]) -> None:
    data = make_unaligned(tmp_path / "data", n=1)
    ckpt = tmp_path / "ckpt"
    proc = train(data, ckpt, "bad", *flags, check=False)
    one_line_error(proc, *words)
    assert not ckpt.exists()


def test_unwritable_output_folders_are_one_line(tmp_path: Path) -> None:
    data = make_unaligned(tmp_path / "data", n=1)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    one_line_error(train(data, not_a_folder, "x", check=False), "argument --checkpoints_dir", "is not a folder")
    one_line_error(train(data, not_a_folder / "below", "x", check=False), "argument --checkpoints_dir",
                   "is not a folder")
    proc = run_script("test.py", ["--dataroot", str(data / "testA"), "--checkpoints_dir", str(tmp_path),
                                  "--name", "x", "--model", "test", "--results_dir", str(not_a_folder),
                                  *TINY_TEST], check=False)
    one_line_error(proc, "argument --results_dir", "is not a folder")
    assert not_a_folder.read_text() == "x"
    # the run's own folder below a good one: --name names a file there
    one_line_error(train(data, tmp_path, "file", check=False), "argument --name", f"{not_a_folder} is not a folder")
    proc = run_script("test.py", ["--dataroot", str(data / "testA"), "--checkpoints_dir", str(tmp_path),
                                  "--name", "file", "--model", "test", "--results_dir", str(tmp_path),
                                  *TINY_TEST], check=False)
    one_line_error(proc, "argument --name", f"{not_a_folder} is not a folder")
    assert not_a_folder.read_text() == "x"


def test_ctrl_c_during_start_up_is_one_line(tmp_path: Path) -> None:
    data = make_unaligned(tmp_path / "data", n=2)
    args = ["--dataroot", str(data), "--checkpoints_dir", str(tmp_path), "--name", "int", *TINY,
            "--n_epochs", "1", "--n_epochs_decay", "0"]
    proc = start_script("train.py", args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # options checked, data being listed: the model is still to be built
        if "The number of training images" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err + out, err
    if "before stopping" not in out:  # start-up (a tiny model may, rarely, already train: then it saves and stops)
        assert err.strip() == "error: interrupted (Ctrl-C)", err
        assert not (tmp_path / "int").exists()  # the lock had created the run folder: removed again


def test_ctrl_c_during_test_start_up_is_one_line(tmp_path: Path) -> None:
    data = make_unaligned(tmp_path / "data", n=80)  # seconds of translating after the signal: it lands before the end
    train(data, tmp_path, "trained", "--n_epochs", "1", "--n_epochs_decay", "0", "--max_dataset_size", "1")
    args = ["--dataroot", str(data / "testA"), "--checkpoints_dir", str(tmp_path), "--name", "trained", "--model",
            "test", "--model_suffix", "_A", "--results_dir", str(tmp_path / "results"), *TINY_TEST]
    proc = start_script("test.py", args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # the data is listed: the model is still to be built and loaded
        if line.startswith("dataset ["):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip() == "error: interrupted (Ctrl-C)", err
    assert "Traceback" not in out + err
