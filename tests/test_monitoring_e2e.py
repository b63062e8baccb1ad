"""Watching a run end to end (issue 3): the real train.py / test.py in subprocesses, on tiny settings, against a
real Visdom server, headless Chromium, TensorBoard event files and an offline W&B run.

One fully watched training run (Visdom + pages + TensorBoard + W&B) is shared by most checks; the lost-server and
no-server cases need runs of their own.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import requests
from PIL import Image

from tests.browser import ARTIFACTS, CHROMIUM, capture_page
from monitoring.visdom_server import VisdomServer
from tests.conftest import TINY_TEST, make_unaligned, run_script, start_script
from util.process import free_port

NAME = "e2e"
DISPLAY_ID = 3                     # not the default, so a hard-coded window id shows
DISPLAY_ENV = "e2e_env"
N_IMAGES = 4                       # per domain and phase; batch size 1, so 4 iterations per epoch
EPOCHS = ["--n_epochs", "2", "--n_epochs_decay", "1"]
LOSS_NAMES = ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]
HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
HAS_WANDB = importlib.util.find_spec("wandb") is not None
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
LOSS_LINE = re.compile(r"^\(epoch: (\d+), iters: (\d+), time: ([\d.]+), data: ([\d.]+)\) (.*)$")


def script_env(home: Path) -> Dict[str, str]:
    """One thread per process: torch's default of one per core thrashes when runs share a 2-core machine.
    W&B runs offline and keeps its config and cache under ``home``, not the user's."""
    return {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
            "WANDB_DISABLE_GIT": "true", "WANDB_CONFIG_DIR": str(home / "wandb_config"),
            "WANDB_CACHE_DIR": str(home / "wandb_cache"), "WANDB_DATA_DIR": str(home / "wandb_data")}


def train_args(dataroot: Path, ckpt: Path, name: str, *extra: str) -> List[str]:
    """cycle_gan at ngf/ndf 8 and 32 px, a loss line and a display at every iteration."""
    return ["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", name, "--model", "cycle_gan",
            *TINY_TEST, "--print_freq", "1", "--display_freq", "1", *extra]


def loss_entries(log: Path) -> List[Tuple[int, int, Dict[str, float]]]:
    """(epoch, epoch_iter, {loss: value}) of every loss line in loss_log.txt, in order."""
    entries = []
    for line in log.read_text().splitlines():
        match = LOSS_LINE.match(line)
        if match:
            values = match.group(5).split()
            losses = {values[i].rstrip(":"): float(values[i + 1]) for i in range(0, len(values), 2)}
            entries.append((int(match.group(1)), int(match.group(2)), losses))
    return entries


def checkpoint_files(run_dir: Path, epochs: int) -> List[str]:
    """Every file a cycle_gan run saving each epoch must leave: weights per epoch and latest, training states."""
    names = [f"{prefix}_net_{net}.pth" for prefix in ["latest", *map(str, range(1, epochs + 1))]
             for net in ("G_A", "G_B", "D_A", "D_B")]
    return names + ["latest_train_state.pth"]


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class WatchedRun:
    dataroot: Path
    ckpt: Path
    run_dir: Path
    output: str
    entries: List[Tuple[int, int, Dict[str, float]]]
    server: VisdomServer
    env: Dict[str, str]


@pytest.fixture(scope="module")
def dataroot(tmp_path_factory) -> Path:
    return make_unaligned(tmp_path_factory.mktemp("data") / "unaligned", n=N_IMAGES, size=(40, 40))


@pytest.fixture(scope="module")
def watched_run(dataroot, visdom_server, tmp_path_factory) -> WatchedRun:
    """A 3-epoch train.py run shown on Visdom, the training page, and TensorBoard / W&B where installed."""
    work = tmp_path_factory.mktemp("watched")
    env = script_env(work)
    extra = ["--display_port", str(visdom_server.port), "--display_env", DISPLAY_ENV, "--display_id", str(DISPLAY_ID),
             "--display_server", "http://127.0.0.1", "--save_epoch_freq", "1", *EPOCHS]
    extra += ["--use_tensorboard"] * HAS_TENSORBOARD + ["--use_wandb"] * HAS_WANDB
    proc = run_script("train.py", train_args(dataroot, work / "checkpoints", NAME, *extra), env=env, timeout=300)
    run_dir = work / "checkpoints" / NAME
    return WatchedRun(dataroot, work / "checkpoints", run_dir, proc.stdout + proc.stderr,
                      loss_entries(run_dir / "loss_log.txt"), visdom_server, env)


# ---------------------------------------------------------------------------------------------------- 1. Visdom
def test_visdom_windows_hold_exactly_the_logged_points(watched_run):
    entries = watched_run.entries
    assert len(entries) == 3 * N_IMAGES and [e[:2] for e in entries[:2]] == [(1, 1), (1, 2)]
    assert "Could not connect" not in watched_run.output and "lost the connection" not in watched_run.output
    windows = watched_run.server.windows(DISPLAY_ENV)
    plot = windows[str(DISPLAY_ID)]
    assert plot["type"] == "plot" and plot["title"] == f"{NAME} loss over time"
    traces = plot["content"]["data"]
    assert [t["name"] for t in traces] == LOSS_NAMES == list(entries[0][2])  # one trace per logged loss
    expected_x = [epoch - 1 + epoch_iter / N_IMAGES for epoch, epoch_iter, _ in entries]  # epochs done
    for trace in traces:
        assert len(trace["x"]) == len(entries)                  # as many points as loss lines, no more
        assert trace["x"] == pytest.approx(expected_x)
        assert trace["y"] == pytest.approx([losses[trace["name"]] for _, _, losses in entries], abs=5.1e-4)
    images = windows[str(DISPLAY_ID + 1)]
    assert images["type"] == "image" and images["title"] == f"{NAME} images"
    assert all(label in windows[str(DISPLAY_ID + 2)]["content"] for label in ("real_A", "fake_B", "rec_A"))
    assert "1" not in windows                                   # nothing in the default window id


# ---------------------------------------------------------------------------------------------------- 2. server lost
def test_training_survives_the_visdom_server_dying(dataroot, tmp_path):
    server = VisdomServer(tmp_path / "visdom_env")
    server.start()
    epochs = 5
    args = train_args(dataroot, tmp_path / "checkpoints", "lost", "--display_port", str(server.port),
                      "--display_server", "http://127.0.0.1", "--display_env", "lost_env", "--n_epochs", str(epochs),
                      "--n_epochs_decay", "0", "--save_epoch_freq", "1")
    log = tmp_path / "checkpoints" / "lost" / "loss_log.txt"
    out_path = tmp_path / "train_output.txt"
    with out_path.open("w") as out:
        proc = start_script("train.py", args, env=script_env(tmp_path), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and len(loss_entries(log)) >= 3:
                break
            time.sleep(0.05)
        # pause training while the server dies, so that what happened before and after the kill is known exactly
        proc.send_signal(signal.SIGSTOP)
        assert proc.poll() is None, "train.py ended before 3 loss lines:\n" + out_path.read_text()[-4000:]
        lines_at_kill = len(loss_entries(log))
        assert lines_at_kill < epochs * N_IMAGES - 2, "train.py got too far before it was paused"
        assert len(server.windows("lost_env")["1"]["content"]["data"][0]["x"]) >= 2  # it was being watched
        server.proc.send_signal(signal.SIGKILL)                 # the server dies, as in a crash
        server.proc.wait(timeout=10)
        proc.send_signal(signal.SIGCONT)
        returncode = proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
    output = out_path.read_text()
    assert returncode == 0, output[-4000:]
    entries = loss_entries(log)
    assert len(entries) == epochs * N_IMAGES
    lost = [line for line in output.splitlines() if "lost the connection" in line]
    assert len(lost) == 1 and "Visdom server at http://127.0.0.1:" in lost[0], lost  # one warning, not one per iter
    assert "Could not connect" not in output
    # it came after the kill, not at start-up (a line may be in the log file but not yet on stdout when paused)
    loss_messages_before = output[:output.index(lost[0])].count("(epoch: ")
    assert loss_messages_before >= lines_at_kill - 1
    run_dir = tmp_path / "checkpoints" / "lost"
    missing = [name for name in checkpoint_files(run_dir, epochs) if not (run_dir / name).is_file()]
    assert not missing, missing
    assert f"<h3>epoch [{epochs}]</h3>" in (run_dir / "web" / "index.html").read_text()  # the page went on


# ---------------------------------------------------------------------------------------------------- 3. no server
def test_no_server_one_warning_with_the_fix(dataroot, tmp_path):
    port = free_port()                                          # nothing listens there
    assert port_is_closed(port)
    runs = {  # the default display flags (display_id 1, localhost) but a closed port; the same run without display
        "no_server": train_args(dataroot, tmp_path / "checkpoints", "no_server", "--display_port", str(port), *EPOCHS),
        "no_display": train_args(dataroot, tmp_path / "checkpoints", "no_display", "--display_id", "0", *EPOCHS),
    }
    procs = {}
    for name, args in runs.items():
        with (tmp_path / f"{name}.txt").open("w") as out:
            procs[name] = start_script("train.py", args, env=script_env(tmp_path), stdout=out,
                                       stderr=subprocess.STDOUT)
    try:
        for proc in procs.values():
            proc.wait(timeout=300)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    outputs = {name: (tmp_path / f"{name}.txt").read_text() for name in runs}
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{outputs[name][-4000:]}"

    output = outputs["no_server"]
    assert len(loss_entries(tmp_path / "checkpoints" / "no_server" / "loss_log.txt")) == 3 * N_IMAGES
    assert output.count("Visdom") == 1 and "Could not connect to a Visdom server" in output, output[-4000:]
    assert "lost the connection" not in output and "Traceback" not in output
    warning = output[output.index("Could not connect"):].split("Trying again", 1)[0]
    assert "--display_id 0" in warning                          # how to turn it off
    command = next(line.strip() for line in warning.splitlines() if line.strip().startswith("python -c"))
    assert f"'-port','{port}'" in command
    assert port_is_closed(port)                                 # no server was started behind the user's back

    # the printed command really starts a server on that port, offline (HOME keeps its files out of ours)
    argv = shlex.split(command)
    server = subprocess.Popen([sys.executable, *argv[1:]], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=dict(os.environ, HOME=str(tmp_path)))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the command from the warning exited instead of serving"
            try:
                answer = requests.post(f"http://127.0.0.1:{port}/env/probe", data='{"eid": "probe"}', timeout=1)
                assert answer.status_code == 200                # it accepts what train.py sends
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "the command from the warning did not start a server in 60 s"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)


# ---------------------------------------------------------------------------------------------------- 4. pages
@needs_chromium
def test_training_page_in_chromium(watched_run):
    index = watched_run.run_dir / "web" / "index.html"
    report = capture_page(index, "e2e_training_page.png")
    assert report["images"] and all(im["ok"] for im in report["images"]), report["images"]
    on_disk = sorted(p.name for p in (watched_run.run_dir / "web" / "images").iterdir())
    assert sorted(im["src"] for im in report["images"]) == [f"images/{name}" for name in on_disk]
    assert [h for h in report["headers"] if h.startswith("epoch")] == ["epoch [3]", "epoch [2]", "epoch [1]"]
    assert len(on_disk) == 3 * 8                                 # 8 visuals (identity on) for each epoch
    assert [line["loss"] for line in report["lines"]] == LOSS_NAMES
    assert all(line["points"] == len(watched_run.entries) for line in report["lines"]), report["lines"]
    assert report["plotWidth"] > 100 and not report["refresh"]
    assert "status\tfinished" in report["summary"] and "epoch\t3 / 3" in report["summary"], report["summary"]
    with Image.open(ARTIFACTS / "e2e_training_page.png") as shot:
        assert shot.size[0] >= 800 and shot.size[1] >= 600


@needs_chromium
def test_results_page_in_chromium(watched_run, tmp_path):
    results = tmp_path / "results"
    run_script("test.py", ["--dataroot", str(watched_run.dataroot), "--checkpoints_dir", str(watched_run.ckpt),
                           "--name", NAME, "--model", "cycle_gan", "--results_dir", str(results), *TINY_TEST,
                           "--load_size", "32"], env=watched_run.env, timeout=300)
    index = results / NAME / "test_latest" / "index.html"
    report = capture_page(index, "e2e_results_page.png")
    rows = report["image_tables"]
    stems = [f"a{i}" for i in range(N_IMAGES)]
    assert report["headers"] == stems and rows == N_IMAGES        # one titled row per input image
    assert all(im["ok"] and im["w"] == im["h"] == 32 for im in report["images"]), report["images"]
    labels = [im["src"][len("images/a0_"):-len(".png")] for im in report["images"][:len(report["images"]) // rows]]
    assert {"real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"} <= set(labels)
    assert [im["src"] for im in report["images"]] == [f"images/{s}_{label}.png" for s in stems for label in labels]
    assert report["summary"].split("\n")[:3] == ["model\tcycle_gan", "epoch\tlatest", f"images\t{N_IMAGES}"]
    with Image.open(ARTIFACTS / "e2e_results_page.png") as shot:
        assert shot.size[0] >= 800 and shot.size[1] >= 600


# ---------------------------------------------------------------------------------------------------- 5. TB / W&B
@pytest.mark.skipif(not HAS_TENSORBOARD, reason="tensorboard is not installed (pip install tensorboard)")
def test_tensorboard_events_hold_the_losses_and_lr(watched_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    event_dir = watched_run.run_dir / "tensorboard"
    assert list(event_dir.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(event_dir))
    acc.Reload()
    entries = watched_run.entries
    steps = list(range(1, len(entries) + 1))                     # total_iters at batch size 1
    for name in LOSS_NAMES:
        events = acc.Scalars(f"loss/{name}")
        assert [e.step for e in events] == steps
        assert [e.value for e in events] == pytest.approx([losses[name] for _, _, losses in entries], abs=5.1e-4)
    lr = acc.Scalars("lr")
    # linear policy, 2 epochs at 0.0002 then one decay epoch at half of it
    assert [e.step for e in lr] == steps
    assert [e.value for e in lr] == pytest.approx([0.0002] * 2 * N_IMAGES + [0.0001] * N_IMAGES)
    assert "time_per_iter" in acc.Tags()["scalars"] and "visuals" in acc.Tags()["images"]


def wandb_history(path: Path) -> List[Dict[str, str]]:
    """The logged rows ({key: JSON value}) of an offline W&B run file.

    The file is a 7-byte header then LevelDB-style log blocks of 32 KiB: each chunk has a 7-byte header
    (crc32, little-endian length, type 1 full / 2 first / 3 middle / 4 last) and chunks join into protobuf Records.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    block, pos, pending, rows = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:                              # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): item.value_json for item in record.history.item})
    return rows


@pytest.mark.skipif(not HAS_WANDB, reason="wandb is not installed (pip install wandb)")
def test_wandb_offline_run_holds_the_losses_lr_and_images(watched_run):
    runs = list((watched_run.run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    records = list(runs[0].glob("run-*.wandb"))
    assert len(records) == 1
    rows = wandb_history(records[0])
    entries = watched_run.entries
    assert [int(row["_step"]) for row in rows] == list(range(1, len(entries) + 1))
    for name in LOSS_NAMES:
        assert [float(row[f"loss/{name}"]) for row in rows] == pytest.approx(
            [losses[name] for _, _, losses in entries], abs=5.1e-4)
    assert [float(row["lr"]) for row in rows] == pytest.approx([0.0002] * 2 * N_IMAGES + [0.0001] * N_IMAGES)
    assert all(row["results/fake_B/_type"] == '"image-file"' and row["results/fake_B/width"] == "32" for row in rows)
