"""DDP under torchrun on the CPU (gloo, 2 processes), mixed precision, --compile: the real scripts on tiny settings."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from tests.conftest import ROOT, TINY, make_aligned, make_unaligned, run_script, script_command
from util.device import cpu_has_native
from util.distributed import ShardSampler

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
# no random pairing, crops, flips, pool or dropout: one process with batch 2 and two with batch 1 see the same data
SAME_DATA = ["--serial_batches", "--no_flip", "--pool_size", "0", "--no_dropout", "--seed", "7", "--load_size", "32"]
LOSS = re.compile(r"(\w+): (-?[0-9.]+)")


def torchrun(script: str, args: List[str], timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node 2 ROOT/script args`` with the environment of run_script."""
    command, env = script_command(script, args)
    return subprocess.run(TORCHRUN + command[1:], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, **popen)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def loss_lines(run_dir: Path) -> List[Dict[str, float]]:
    lines = [line for line in (run_dir / "loss_log.txt").read_text().splitlines() if line.startswith("(epoch")]
    return [{k: float(v) for k, v in LOSS.findall(line.split(")", 1)[1])} for line in lines]


# ---------------------------------------------------------------------------------------------- unit
def test_shard_sampler_deals_one_order_out_and_resumes_from_a_global_position() -> None:
    shards = [ShardSampler(10, 3, r, shuffle=True, seed=5) for r in range(3)]
    for s in shards:
        s.set_epoch(2)
    got = [list(s) for s in shards]
    assert [len(g) for g in got] == [4, 4, 4] == [len(s) for s in shards]  # padded to whole rounds
    order = shards[0].remaining()
    assert sorted(set(order)) == list(range(10)) and order[:2] == order[10:]
    assert [g[k] for k in range(4) for g in got] == order  # round k of the ranks = positions 3k, 3k+1, 3k+2
    shards[0].set_epoch(3)
    assert shards[0].remaining() != order  # another epoch, another order
    # resumed on 2 processes after 4 samples: the rest of the same order, dealt out anew
    rest = [ShardSampler(10, 2, r, shuffle=True, seed=5) for r in range(2)]
    for s in rest:
        s.set_epoch(2)
        s.set_start(4)
    assert sorted(list(rest[0]) + list(rest[1])) == sorted(order[4:10])
    unpadded = [list(ShardSampler(5, 2, r, shuffle=False, seed=0, pad=False)) for r in range(2)]
    assert unpadded == [[0, 2, 4], [1, 3]]


def test_sync_batch_norm_is_batch_norm_in_one_process_and_converts_in_place() -> None:
    from torch import nn

    from util.distributed import SyncBatchNorm, convert_sync_batchnorm

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    params = list(net.parameters())
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    net = net.double()
    expected = net(x)
    converted = convert_sync_batchnorm(net)
    assert isinstance(converted[1], SyncBatchNorm)
    assert all(a is b for a, b in zip(converted.parameters(), params))  # the optimizer's parameters stay valid
    assert torch.allclose(converted(x), expected, atol=1e-12)


# ---------------------------------------------------------------------------------------------- DDP training
@pytest.mark.slow
@pytest.mark.parametrize("model,flags", [
    ("pix2pix", ["--netG", "resnet_6blocks", "--norm", "batch", "--dataset_mode", "aligned"]),
    ("cycle_gan", []),
])
def test_two_processes_with_batch_1_train_like_one_with_batch_2(tmp_path: Path, model: str, flags: List[str]) -> None:
    """Same data, same seed: the gradients all-reduced over 2 ranks (and pix2pix's batch norm synchronised over
    them) equal one process's on the global batch; the weights after 2 steps agree in float64."""
    root = make_aligned(tmp_path / "data") if model == "pix2pix" else make_unaligned(tmp_path / "data")
    args = ["--dataroot", str(root), "--model", model, *TINY, *SAME_DATA, *flags, "--checkpoints_dir",
            str(tmp_path / "ck")]
    ok(run_script("tests/ddp_steps.py", [str(tmp_path / "one.pth"), *args, "--batch_size", "2"]))
    ok(torchrun("tests/ddp_steps.py", [str(tmp_path / "two.pth"), *args, "--batch_size", "1"]))
    one, two = torch.load(tmp_path / "one.pth"), torch.load(tmp_path / "two.pth")
    assert one.keys() == two.keys()
    for net in one:
        for key, value in one[net].items():
            if value.is_floating_point():
                assert (value - two[net][key]).abs().max().item() < 1e-8, f"{net}.{key}"
    assert model != "pix2pix" or any(k.endswith("running_mean") for k in one["G"])  # batch norm was exercised


@pytest.mark.slow
def test_torchrun_training_logs_the_global_batch_and_only_rank_0_writes(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "data")
    args = ["--dataroot", str(root), "--model", "cycle_gan", *TINY, *SAME_DATA, "--n_epochs", "1",
            "--n_epochs_decay", "0", "--print_freq", "2", "--checkpoints_dir", str(tmp_path / "ck")]
    ok(run_script("train.py", [*args, "--name", "one", "--batch_size", "2"]))
    proc = ok(torchrun("train.py", [*args, "--name", "two", "--batch_size", "1"]))
    one, two = tmp_path / "ck" / "one", tmp_path / "ck" / "two"
    # iteration counters count global samples: the same lines at the same iterations as the 1-process run
    # (two files written by two ranks would double the lines); the first step's losses agree to the printed digits
    log_one, log_two = loss_lines(one), loss_lines(two)
    assert len(log_two) == len(log_one) == 2
    assert log_two[0] == log_one[0]
    assert re.findall(r"iters: (\d+)", (two / "loss_log.txt").read_text()) == ["2", "4"]
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert proc.stdout.count("End of epoch 1") == 1  # rank 1 reports nothing
    state = torch.load(two / "latest_train_state.pth", weights_only=False)
    assert state["world_size"] == 2 and len(state["ranks"]) == 2
    assert not torch.equal(state["ranks"][0]["rng"]["torch"], state["ranks"][1]["rng"]["torch"])  # per-rank seeds


def _children(pid: int) -> List[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _rank_of(pid: int) -> int:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return int(next(e for e in env if e.startswith(b"RANK=")).split(b"=", 1)[1])


@pytest.mark.slow
def test_killed_rank_stops_the_run_with_one_line_and_it_resumes_under_torchrun_or_one_process(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "data", n=8)
    ck = tmp_path / "ck"
    args = ["--dataroot", str(root), "--model", "cycle_gan", *TINY, "--seed", "1", "--name", "run",
            "--checkpoints_dir", str(ck), "--save_latest_freq", "4", "--print_freq", "4", "--no_html"]
    command, env = script_command("train.py", [*args, "--n_epochs", "500", "--n_epochs_decay", "0"])
    agent = subprocess.Popen(TORCHRUN + command[1:], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        state_file = ck / "run" / "latest_train_state.pth"
        deadline = time.monotonic() + 240
        while not state_file.exists() and agent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert state_file.exists(), "no checkpoint was written"
        workers = {_rank_of(pid): pid for pid in _children(agent.pid)}
        os.kill(workers[1], signal.SIGKILL)
        output, _ = agent.communicate(timeout=180)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert agent.returncode != 0
    assert "error: rank 0 lost contact with the other training processes" in output, output[-4000:]
    assert "[rank0]: Traceback" not in output
    state = torch.load(state_file, weights_only=False)  # the last complete checkpoint is intact
    # the kill may land before or after an epoch's end-of-epoch save: finish the epoch the resume starts in
    epoch = state["counters"]["epoch"] + (1 if state["counters"]["epoch_done"] else 0)
    finish = ["--continue_train", "--n_epochs", str(epoch), "--n_epochs_decay", "0"]

    shutil.copytree(ck / "run", ck / "copy")
    resumed = ok(torchrun("train.py", [*args, *finish]))
    assert f"End of epoch {epoch} " in resumed.stdout and "not bitwise" not in resumed.stdout
    single = run_script("train.py", [*args, *finish, "--name", "copy"])
    assert "saved by 2 process(es) and resumes on 1" in single.stdout + single.stderr
    assert f"End of epoch {epoch} " in single.stdout


@pytest.mark.slow
def test_torchrun_test_splits_the_images_and_writes_one_page(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "data", n=5)
    ck, results = tmp_path / "ck", tmp_path / "results"
    ok(run_script("train.py", ["--dataroot", str(root), "--model", "cycle_gan", *TINY, "--name", "run",
                               "--checkpoints_dir", str(ck), "--n_epochs", "1", "--n_epochs_decay", "0",
                               "--max_dataset_size", "1"]))
    args = ["--dataroot", str(root / "testA"), "--name", "run", "--model", "test", "--model_suffix", "_A",
            "--checkpoints_dir", str(ck), "--gpu_ids", "-1", "--load_size", "32", "--crop_size", "32"]
    ok(run_script("test.py", [*args, "--results_dir", str(results / "one")]))
    ok(torchrun("test.py", [*args, "--results_dir", str(results / "two")]))
    page_one = (results / "one" / "run" / "test_latest" / "index.html").read_text()
    page_two = (results / "two" / "run" / "test_latest" / "index.html").read_text()
    assert page_two == page_one.replace(str(results / "one"), str(results / "two"))
    assert re.findall(r"<h3>(\w+)</h3>", page_two) == [f"a{i}" for i in range(5)]
    images = sorted(p.name for p in (results / "two" / "run" / "test_latest" / "images").iterdir())
    assert images == sorted(p.name for p in (results / "one" / "run" / "test_latest" / "images").iterdir())


# ---------------------------------------------------------------------------------------------- precision
@pytest.mark.slow
def test_bf16_autocast_trains_with_losses_close_to_float32(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "data")
    args = ["--dataroot", str(root), "--model", "cycle_gan", *TINY, *SAME_DATA, "--n_epochs", "1",
            "--n_epochs_decay", "0", "--print_freq", "1", "--checkpoints_dir", str(tmp_path / "ck")]
    assert "has no native" not in run_script("train.py", [*args, "--name", "fp32"]).stdout
    emulated = run_script("train.py", [*args, "--name", "bf16", "--amp", "bf16"]).stdout
    # a CPU without bfloat16 instructions is told that autocast will be slower there; one with them is not
    assert ("has no native bf16 instructions" in emulated) == (not cpu_has_native(torch.bfloat16)), emulated[-3000:]
    fp32, bf16 = loss_lines(tmp_path / "ck" / "fp32"), loss_lines(tmp_path / "ck" / "bf16")
    assert len(bf16) == len(fp32) == 4
    # the first losses come from the same weights: only bf16's 8-bit mantissa in the convolutions separates them
    for name, value in fp32[0].items():
        assert bf16[0][name] == pytest.approx(value, rel=0.03, abs=0.01), name
    # later steps start from weights that Adam's first, sign-like steps moved apart: the reconstruction terms
    # stay close, the adversarial ones (a few tenths) wander more
    for step_fp32, step_bf16 in zip(fp32, bf16):
        for name, value in step_fp32.items():
            if name.startswith(("cycle", "idt")):
                assert step_bf16[name] == pytest.approx(value, rel=0.1), name
            else:
                assert step_bf16[name] == pytest.approx(value, abs=0.3), name
    assert any(step_bf16 != step_fp32 for step_fp32, step_bf16 in zip(fp32, bf16))  # it did compute in bf16


def _tiny_model(tmp_path: Path, extra: List[str]):
    from models import create_model
    from options.train_options import TrainOptions

    root = make_unaligned(tmp_path / "data", n=2)
    opt = TrainOptions().parse(["--dataroot", str(root), "--model", "cycle_gan", *TINY, "--checkpoints_dir",
                                str(tmp_path / "ck"), "--seed", "0", *extra], save=False)
    model = create_model(opt)
    model.setup(opt)
    return model, opt


def test_fp16_gradient_scaler_state_round_trips_through_resume(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, opt = _tiny_model(tmp_path, ["--amp", "fp16"])
    assert model.scaler is not None
    batch = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1,
             "A_paths": ["a"], "B_paths": ["b"]}
    for _ in range(3):
        model.set_input(batch)
        model.train_step()
    saved = model.scaler.state_dict()
    assert saved["scale"] < 65536.0  # the first steps overflowed at the initial scale and were skipped
    model.save_networks("latest", {"epoch": 1, "epoch_iter": 3, "total_iters": 3, "epoch_done": False,
                                   "epoch_rng": None})
    resumed, _ = _tiny_model(tmp_path, ["--amp", "fp16", "--continue_train"])
    assert resumed.scaler.state_dict() == torch.amp.GradScaler("cpu").state_dict()  # fresh until loaded
    resumed.load_training_state("latest")
    assert resumed.scaler.state_dict() == saved


@pytest.mark.slow
def test_compiled_networks_compute_what_eager_ones_do(tmp_path: Path) -> None:
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("torch.compile on the CPU needs a C++ compiler")
    torch.manual_seed(0)
    eager, _ = _tiny_model(tmp_path, ["--lambda_identity", "0"])
    compiled, _ = _tiny_model(tmp_path, ["--lambda_identity", "0", "--compile"])
    compiled.netG_A._orig_mod.load_state_dict(eager.netG_A.state_dict())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        expected = eager.netG_A(x)
        got = compiled.netG_A(x)
    assert type(compiled.netG_A).__name__ == "OptimizedModule"
    assert torch.allclose(got, expected, atol=1e-5)


def test_background_checkpoint_holds_the_state_of_its_step_and_is_complete_after_waiting(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, _ = _tiny_model(tmp_path, [])
    batch = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1,
             "A_paths": ["a"], "B_paths": ["b"]}
    model.set_input(batch)
    model.train_step()
    counters = {"epoch": 1, "epoch_iter": 1, "total_iters": 1, "epoch_done": False, "epoch_rng": None}
    model.save_networks("latest", counters, background=True)
    moments = model.optimizer_G.state_dict()["state"][0]["exp_avg"].clone()
    weights = model.netG_A.state_dict()["model.1.weight"].clone()
    model.train_step()  # updates the weights and the moments in place while the set is being written
    model.wait_for_saves()
    state = torch.load(tmp_path / "ck" / "experiment_name" / "latest_train_state.pth", weights_only=False)
    assert torch.equal(state["optimizers"][0]["state"][0]["exp_avg"], moments)
    saved = torch.load(tmp_path / "ck" / "experiment_name" / "latest_net_G_A.pth")
    assert torch.equal(saved["model.1.weight"], weights)
    assert not torch.equal(model.netG_A.state_dict()["model.1.weight"], weights)
