"""The Visualizer against real things: a Visdom server on 127.0.0.1, headless Chromium, TensorBoard and W&B files.

Only the Visualizer and its sinks are used (train.py's options, synthetic tensors), not train.py itself.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import List, Optional

import numpy as np
import pytest
import torch
from PIL import Image

from monitoring import Sink, available_sinks, sink_class
from monitoring.progress import EpochProgress
from monitoring.visdom_server import VisdomServer
from options.train_options import TrainOptions
from tests.browser import ARTIFACTS, CHROMIUM, capture_page
from util.errors import UserError
from util.process import free_port
from util.util import save_image, tensor2im, tensor2ims
from util.visualizer import Visualizer

ROOT = Path(__file__).resolve().parents[1]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
LOSS_NAMES = ["G_A", "D_A", "cycle_A"]
LABELS = ["real_A", "fake_B", "rec_A"]


# ---------------------------------------------------------------------------------------------------- helpers
def make_opt(tmp_path: Path, **overrides) -> argparse.Namespace:
    """train.py's real options (so every flag the sinks read is there) with small display values."""
    opt = TrainOptions().parse(["--dataroot", str(tmp_path), "--gpu_ids", "-1"], save=False)
    values = dict(name="exp", checkpoints_dir=str(tmp_path / "checkpoints"), isTrain=True, no_html=False,
                  display_id=0, display_server="http://127.0.0.1", display_port=1, display_env="main",
                  display_ncols=4, display_winsize=64, n_epochs=2, n_epochs_decay=1, print_freq=4,
                  use_tensorboard=False, use_wandb=False, wandb_project_name="CycleGAN-and-pix2pix",
                  continue_train=False, model="cycle_gan", device=torch.device("cpu"))
    values.update(overrides)
    unknown = sorted(set(values) - set(vars(opt)))
    assert not unknown, f"not options of train.py: {unknown}"
    vars(opt).update(values)
    return opt


def visuals(seed: int, batch: int = 2, size: int = 24) -> "OrderedDict[str, torch.Tensor]":
    """Images in [-1, 1] a person can tell apart on a screenshot: gradients, a square, a 1-channel rec_A."""
    gen = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(-1, 1, size)
    out = OrderedDict()
    for k, label in enumerate(LABELS):
        channels = 1 if label == "rec_A" else 3
        images = torch.empty(batch, channels, size, size)
        for b in range(batch):
            phase = torch.rand(channels, 1, 1, generator=gen) * 2 - 1
            images[b] = torch.clamp(ramp.view(1, 1, -1) * 0.8 + ramp.view(1, -1, 1) * phase, -1, 1)
            x0, y0 = (torch.randint(0, size // 2, (2,), generator=gen)).tolist()
            images[b, :, y0:y0 + size // 3, x0:x0 + size // 3] = 0.9 - 0.6 * k
        out[label] = images
    return out


def losses(step: int) -> "OrderedDict[str, float]":
    return OrderedDict((name, round(1.0 / (step + 1) + k, 3)) for k, name in enumerate(LOSS_NAMES))


def fake_training(vis: Visualizer, epochs: List[int], iters_per_epoch: int = 4, batch: int = 2,
                  display_epochs: Optional[List[int]] = None, start_iters: int = 0) -> List[float]:
    """What train.py does, at every iteration; returns the x values plotted."""
    xs, total = [], start_iters
    samples = iters_per_epoch * batch
    for epoch in epochs:
        vis.reset()
        vis.start_epoch(epoch, samples)
        for i in range(iters_per_epoch):
            total += batch
            epoch_iter = (i + 1) * batch
            if display_epochs is None or epoch in display_epochs:
                vis.display_current_results(visuals(total), epoch, save_result=(i == iters_per_epoch - 1),
                                            total_iters=total)
            vis.print_current_losses(epoch, epoch_iter, losses(total), 0.0123, 0.0045)
            vis.plot_current_losses(epoch, epoch_iter / samples, losses(total), total)
            vis.log_scalars({"lr": 0.0002 / epoch, "time_per_iter": 0.0123}, total)
            xs.append(epoch - 1 + epoch_iter / samples)  # epochs done
            vis.advance(batch)
        vis.end_epoch(epoch, 1.2)
    return xs


def visdom_opt(tmp_path: Path, server: VisdomServer, env: str, **overrides) -> argparse.Namespace:
    values = dict(display_id=1, display_port=server.port, display_env=env)
    values.update(overrides)
    return make_opt(tmp_path, **values)


def visdom_warnings(caplog) -> List[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith("monitoring.visdom")]


# ---------------------------------------------------------------------------------------------------- images
def test_tensor2im_rounds_clips_and_converts_channels():
    x = torch.tensor([-1.5, -1.0, 0.0, 0.5, 1.0, 1.2]).view(1, 1, 1, 6)
    out = tensor2im(x)
    assert out.shape == (1, 6, 3) and out.dtype == np.uint8
    # (x+1)/2*255 = -63.75, 0, 127.5, 191.25, 255, 280.5: rounded, then clipped (no wrap-around past 255)
    assert out[0, :, 0].tolist() == [0, 0, 128, 191, 255, 255]
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()  # gray tiled to RGB

    two = tensor2im(torch.zeros(1, 2, 4, 5))
    assert two.shape == (4, 5, 3) and two[0, 0].tolist() == [128, 128, 0]

    batch = torch.stack([torch.full((3, 2, 2), -1.0), torch.full((3, 2, 2), 1.0)])
    assert tensor2im(batch).max() == 0                       # first item only
    items = tensor2ims(batch)
    assert len(items) == 2 and items[0].max() == 0 and items[1].min() == 255

    array = np.full((3, 3, 3), 7, dtype=np.uint8)
    assert tensor2im(array) is not array and (tensor2im(array) == array).all()  # numpy passthrough


@pytest.mark.parametrize("ratio,size", [(1.0, (40, 20)), (2.0, (80, 20)), (0.5, (40, 40)), (1.5, (60, 20))])
def test_save_image_honours_aspect_ratio(tmp_path, ratio, size):
    image = np.zeros((20, 40, 3), dtype=np.uint8)             # 20 high, 40 wide
    path = tmp_path / "out.png"
    save_image(image, path, aspect_ratio=ratio)
    with Image.open(path) as saved:
        assert saved.size == size                            # PIL size is (width, height)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # written atomically, no temporary left


def test_save_image_writes_pil_images_in_the_suffix_format(tmp_path):
    from PIL import JpegImagePlugin

    image = Image.fromarray(np.arange(16 * 24 * 3, dtype=np.uint8).reshape(16, 24, 3))
    save_image(image, tmp_path / "a.jpg")
    with Image.open(tmp_path / "a.jpg") as saved:
        assert saved.format == "JPEG" and saved.size == (24, 16)
        assert JpegImagePlugin.get_sampling(saved) == 0          # no chroma subsampling (4:4:4)
    save_image(image, tmp_path / "b.webp")
    with Image.open(tmp_path / "b.webp") as saved:
        assert (np.asarray(saved) == np.asarray(image)).all()  # lossless
    with pytest.raises(ValueError, match="cannot tell the image format"):
        save_image(image, tmp_path / "c.unknown")


# ---------------------------------------------------------------------------------------------------- sinks
def test_sinks_are_found_by_file_name():
    assert {"loss_log", "page", "progress", "tensorboard", "visdom", "wandb"} <= set(available_sinks())
    for name in available_sinks():
        cls = sink_class(name)
        assert issubclass(cls, Sink) and cls.__module__ == f"monitoring.{name}_sink"


@pytest.mark.parametrize("flags,expected", [
    ({}, ["loss_log", "page", "progress"]),
    ({"no_html": True}, ["loss_log", "progress"]),
    ({"use_tensorboard": True}, ["loss_log", "page", "progress", "tensorboard"]),
    ({"display_id": 2, "display_port": 0}, ["loss_log", "page", "progress", "visdom"]),
])
def test_the_flags_choose_the_sinks(tmp_path, flags, expected):
    if flags.get("use_tensorboard"):
        pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install tensorboard)")
    vis = Visualizer(make_opt(tmp_path, **flags), interactive=False)
    vis.close()
    assert [type(sink).__module__.split(".")[1][:-len("_sink")] for sink in vis.sinks] == expected


def fake_validation(vis: Visualizer, epoch: int, step: int, psnr: float = 21.5, previews: int = 2,
                    size: int = 24) -> None:
    """What evaluation/validation.py hands the Visualizer after a validation: previews, then the metrics."""
    rows = [OrderedDict((label, image[i:i + 1]) for label, image in visuals(100 + epoch, previews, size).items()
                        if label != "rec_A") for i in range(previews)]
    vis.display_previews(rows, epoch, step)
    vis.log_metrics(epoch, OrderedDict(l1=0.125, psnr=psnr, ssim=0.5), 8, 0.25, 0.125, step)


# ---------------------------------------------------------------------------------------------------- loss_log.txt
def test_loss_log_keeps_the_reference_format(tmp_path, caplog):
    opt = make_opt(tmp_path)
    caplog.set_level(logging.INFO)
    vis = Visualizer(opt, interactive=False)
    vis.print_current_losses(3, 40, OrderedDict(G_A=0.5, D_A=1.25, idt=0.0004), 0.12345, 0.0456)
    vis.close()
    Visualizer(opt, interactive=False).close()                # a second run adds a second header
    lines = (tmp_path / "checkpoints" / "exp" / "loss_log.txt").read_text().splitlines()
    header = r"^================ Training Loss \(.+\) ================$"
    assert re.match(header, lines[0]) and re.match(header, lines[2]) and len(lines) == 3
    assert lines[1] == "(epoch: 3, iters: 40, time: 0.123, data: 0.046) G_A: 0.500 D_A: 1.250 idt: 0.000 "
    assert any(r.getMessage() == lines[1] for r in caplog.records)  # not a terminal: the line is logged


def test_other_ranks_write_and_show_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    vis = Visualizer(make_opt(tmp_path, display_id=1), interactive=False)
    fake_training(vis, [1], iters_per_epoch=2)
    vis.close()
    assert not (tmp_path / "checkpoints").exists()


# ---------------------------------------------------------------------------------------------------- progress
def test_progress_bar_on_a_terminal_and_plain_lines_otherwise(caplog):
    import io
    stream = io.StringIO()
    bar = EpochProgress(interactive=True, stream=stream)
    bar.start(2, 5, 8)
    bar.advance(4)
    bar.set_losses({"G": 0.5, "D": 0.25})
    bar.advance(4)
    bar.close()
    text = stream.getvalue()
    assert "epoch 2/5" in text and "8/8" in text and "G=0.500" in text and "D=0.250" in text

    caplog.set_level(logging.INFO)
    plain = EpochProgress(interactive=False, stream=io.StringIO(), plain_interval=0.0)
    plain.start(1, 3, 10)
    plain.advance(5)
    plain.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "monitoring.progress"]
    assert len(lines) == 1 and re.match(r"epoch 1/3: 5/10 img \(50%\), .* img/s, ETA \d+:\d\d:\d\d$", lines[0])


TERMINAL_RUN = """
import logging, sys
from collections import OrderedDict
from options.train_options import TrainOptions
from util.cli import setup_logging
from util.visualizer import Visualizer
setup_logging()
opt = TrainOptions().parse(["--dataroot", sys.argv[1], "--checkpoints_dir", sys.argv[1], "--name", "tty",
                            "--gpu_ids", "-1", "--display_id", "0", "--no_html", "--n_epochs", "2",
                            "--n_epochs_decay", "0"], save=False)
vis = Visualizer(opt)
for epoch in (1, 2):
    vis.reset()
    vis.start_epoch(epoch, 8)
    for i in range(4):
        vis.print_current_losses(epoch, 2 * (i + 1), OrderedDict(G=0.5, D=0.25), 0.01, 0.0)
        if i == 1:
            logging.getLogger("train").info("saving the latest model (epoch %d)", epoch)
        vis.advance(2)
    vis.end_epoch(epoch, 0.1)
vis.close()
"""


@pytest.mark.slow
def test_a_terminal_gets_a_progress_bar_with_the_losses(tmp_path):
    master, slave = os.openpty()                              # stdout is a terminal, as for a user
    proc = subprocess.Popen([sys.executable, "-c", TERMINAL_RUN, str(tmp_path)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:                                       # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert re.search(r"epoch 2/2: 100%\|.*\| 8/8 \[.*img/s, G=0.500, D=0.250\]", text), text
    assert "saving the latest model (epoch 1)" in text and "End of epoch 2 / 2" in text
    assert "(epoch: 1, iters: 2" not in text                  # on a terminal the losses go to the bar
    assert (tmp_path / "tty" / "loss_log.txt").read_text().count("(epoch: ") == 8


# ---------------------------------------------------------------------------------------------------- Visdom
def test_no_visdom_server_gives_one_warning_and_training_goes_on(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    port = free_port()                                        # nothing listens there
    vis = Visualizer(make_opt(tmp_path, display_id=1, display_port=port), interactive=False)
    fake_training(vis, [1, 2, 3], iters_per_epoch=5)
    vis.close()
    warnings = visdom_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert f"'-port','{port}'" in warnings[0] and "run_server import main" in warnings[0]
    assert "--display_id 0" in warnings[0]
    with socket.socket() as s:                                # and no server was started behind our back
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_visdom_windows_hold_the_losses_and_images(tmp_path, visdom_server, caplog):
    caplog.set_level(logging.INFO)
    env = "grid_test"
    vis = Visualizer(visdom_opt(tmp_path, visdom_server, env), interactive=False)
    xs = fake_training(vis, [1, 2], iters_per_epoch=3)
    vis.close()
    assert visdom_warnings(caplog) == []
    windows = visdom_server.windows(env)
    plot = windows["1"]
    assert plot["title"] == "exp loss over time"
    traces = plot["content"]["data"]
    assert [t["name"] for t in traces] == LOSS_NAMES
    for k, trace in enumerate(traces):
        assert trace["x"] == pytest.approx(xs)
        assert trace["y"] == pytest.approx([losses(2 * (i + 1))[LOSS_NAMES[k]] for i in range(len(xs))])
    assert windows["2"]["title"] == "exp images" and windows["2"]["type"] == "image"
    assert windows["3"]["title"] == "exp labels" and all(label in windows["3"]["content"] for label in LABELS)
    assert "width: 24px; height: 24px" in windows["3"]["content"]  # the image size, not (N, C)


def test_visdom_shows_the_previews_and_the_metric_history(tmp_path, visdom_server, caplog):
    env = "validation_test"
    vis = Visualizer(visdom_opt(tmp_path, visdom_server, env, val_freq=1), interactive=False)
    fake_validation(vis, 1, 4, psnr=21.5)
    fake_validation(vis, 2, 8, psnr=22.0)
    vis.close()
    assert visdom_warnings(caplog) == []
    windows = visdom_server.windows(env)
    previews = windows["1_previews"]
    assert previews["type"] == "image" and previews["title"] == "exp previews, epoch 2 (real_A, fake_B)"
    traces = windows["1_metrics"]["content"]["data"]
    assert [t["name"] for t in traces] == ["l1", "psnr", "ssim"]
    assert all(t["x"] == [1, 2] for t in traces) and traces[1]["y"] == pytest.approx([21.5, 22.0])


def test_visdom_one_window_per_image_without_ncols(tmp_path, visdom_server):
    env = "separate_test"
    vis = Visualizer(visdom_opt(tmp_path, visdom_server, env, display_ncols=0, display_id=5), interactive=False)
    vis.display_current_results(visuals(1), 1, True, 2)
    vis.close()
    windows = visdom_server.windows(env)
    assert {k: windows[k]["title"] for k in ("6", "7", "8")} == dict(zip(("6", "7", "8"), LABELS))


def test_visdom_server_lost_then_back(tmp_path, visdom_server, caplog):
    caplog.set_level(logging.INFO)
    env = "reconnect_test"
    retry = 1.0
    vis = Visualizer(visdom_opt(tmp_path, visdom_server, env), interactive=False, retry_seconds=retry)
    xs = fake_training(vis, [1], iters_per_epoch=2)
    assert len(visdom_server.windows(env)["1"]["content"]["data"][0]["x"]) == 2

    visdom_server.stop()
    xs += fake_training(vis, [2], iters_per_epoch=4)           # training goes on while the server is down
    warnings = visdom_warnings(caplog)
    assert len(warnings) == 1 and "lost the connection" in warnings[0]

    visdom_server.start()
    time.sleep(retry)
    xs += fake_training(vis, [3], iters_per_epoch=1)
    vis.close()
    assert any("reconnected" in r.getMessage() for r in caplog.records)
    assert len(visdom_warnings(caplog)) == 1
    assert visdom_server.windows(env)["1"]["content"]["data"][0]["x"] == pytest.approx(xs)  # history re-sent
    assert "2" in visdom_server.windows(env)


# ---------------------------------------------------------------------------------------------------- pages
@needs_chromium
def test_training_page_in_chromium(tmp_path):
    opt = make_opt(tmp_path, n_epochs=3, n_epochs_decay=0)
    vis = Visualizer(opt, interactive=False)
    xs = fake_training(vis, [1, 2, 3], iters_per_epoch=4, display_epochs=[1, 3])
    index = tmp_path / "checkpoints" / "exp" / "web" / "index.html"
    assert '<meta content="30" http-equiv="refresh">' in index.read_text()  # refreshes while training runs
    vis.close()
    report = capture_page(index, "training_page.png")
    assert report["images"] and all(im["ok"] for im in report["images"]), report["images"]
    assert [h for h in report["headers"] if h.startswith("epoch")] == ["epoch [3]", "epoch [1]"]  # newest first
    assert [im["src"] for im in report["images"]] == [f"images/epoch{e:03d}_{label}.png"
                                                      for e in (3, 1) for label in LABELS]
    assert [line["loss"] for line in report["lines"]] == LOSS_NAMES
    assert all(line["points"] == len(xs) for line in report["lines"]) and report["plotWidth"] > 100
    assert not report["refresh"]                               # the finished run's page stays put
    assert "time per iteration\t0.0123 s" in report["summary"] and "epoch\t3 / 3" in report["summary"]
    assert "Options" in report["headers"] and "wandb_project_name" in index.read_text()
    with Image.open(ARTIFACTS / "training_page.png") as shot:
        assert shot.size[0] >= 800 and shot.size[1] >= 600


@needs_chromium
def test_previews_and_metric_charts_on_a_page_that_fits_1400px(tmp_path):
    opt = make_opt(tmp_path, val_freq=1, display_winsize=256, n_epochs=2, n_epochs_decay=0)
    vis = Visualizer(opt, interactive=False)
    six = OrderedDict((f"{label}{k}", image[:, :, ].repeat_interleave(8, 2).repeat_interleave(8, 3))
                      for k in range(2) for label, image in visuals(k, 1, 32).items())  # six 256 px visuals
    vis.display_current_results(six, 1, True, 4)
    for epoch in (1, 2):
        fake_validation(vis, epoch, 4 * epoch, psnr=20.0 + epoch, size=256)
    vis.close()
    index = tmp_path / "checkpoints" / "exp" / "web" / "index.html"
    report = capture_page(index, "validation_page.png", width=1400)
    assert report["pageWidth"] <= 1400                          # six 256 px cells would need 1560 px and more
    assert report["images"] and all(im["ok"] for im in report["images"]), report["images"]
    previews = [im["src"] for im in report["images"] if "preview" in im["src"]]
    # one row per validation, newest first; the inputs are the same files in every row
    assert previews == [f"images/{name}" for epoch in (2, 1) for i in (0, 1) for name in
                        (f"preview_{i}_real_A.png", f"preview_epoch{epoch:03d}_{i}_fake_B.png")]
    assert all(0 < im["shown"] <= 256 for im in report["images"])
    assert report["metrics"] == [{"metric": name, "points": 2} for name in ("l1", "psnr", "ssim")]
    assert "validation\tepoch 2, 8 images: l1 0.125, psnr 22, ssim 0.5 (in 0.25 s, metrics 0.12 s)" in \
        report["summary"]
    assert [line["loss"] for line in report["lines"]] == []     # no loss point was logged: the note says so
    assert any("--print_freq 4" in note for note in report["notes"])


def test_small_images_are_shown_at_twice_their_size_and_an_empty_page_says_why(tmp_path):
    vis = Visualizer(make_opt(tmp_path, display_winsize=256), interactive=False)
    vis.close()
    html = (tmp_path / "checkpoints" / "exp" / "web" / "index.html").read_text()
    for note in ("No loss point yet", "--print_freq 4", "No training images yet", "--update_html_freq",
                 "--display_freq", "--val_freq N turns them on"):
        assert note in html
    vis = Visualizer(make_opt(tmp_path, display_winsize=256, val_freq=3), interactive=False)
    vis.display_current_results(visuals(0, 1, 24), 1, True, 2)
    vis.plot_current_losses(1, 0.25, losses(2), 2)             # the first point, drawn after one iteration
    vis.close()
    html = (tmp_path / "checkpoints" / "exp" / "web" / "index.html").read_text()
    assert html.count('style="width:48px"') == len(LABELS) and "No training images yet" not in html
    assert "the first validation runs after epoch 3 (--val_freq)" in html
    assert "No loss point yet" not in html and "the next comes after --print_freq 4 samples" in html


def test_validation_goes_to_the_loss_log_and_metrics_files_and_survives_continue_train(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    vis = Visualizer(make_opt(tmp_path, val_freq=1), interactive=False)
    fake_validation(vis, 1, 8, psnr=20.0)
    fake_validation(vis, 2, 16, psnr=math.inf)                 # identical images
    vis.close()
    run = tmp_path / "checkpoints" / "exp"
    assert (run / "loss_log.txt").read_text().splitlines()[1:] == [
        "(epoch: 1, validation: 8 images, 0.250 s, metrics 0.125 s) l1: 0.1250 psnr: 20.0000 ssim: 0.5000 ",
        "(epoch: 2, validation: 8 images, 0.250 s, metrics 0.125 s) l1: 0.1250 psnr: inf ssim: 0.5000 "]
    assert "(epoch: 2, validation: 8 images, 0.250 s, metrics 0.125 s)" in caplog.text  # the terminal too
    records = json.loads((run / "metrics.json").read_text())["records"]
    assert [(r["epoch"], r["step"], r["values"]["psnr"], r["metric_seconds"]) for r in records] == [
        (1, 8, 20.0, 0.125), (2, 16, None, 0.125)]
    assert (run / "metrics.csv").read_text().splitlines() == [
        "epoch,step,images,seconds,metric_seconds,l1,psnr,ssim", "1,8,8,0.250,0.125,0.125,20,0.5",
        "2,16,8,0.250,0.125,0.125,inf,0.5"]
    resumed = Visualizer(make_opt(tmp_path, val_freq=1, continue_train=True), interactive=False)
    assert [r["epoch"] for r in resumed.metrics.records] == [1, 2]
    fake_validation(resumed, 2, 16, psnr=25.0)                 # resumed before epoch 2's validation: replaced
    resumed.close()
    records = json.loads((run / "metrics.json").read_text())["records"]
    assert [r["values"]["psnr"] for r in records] == [20.0, 25.0]


def test_history_survives_continue_train(tmp_path):
    vis = Visualizer(make_opt(tmp_path), interactive=False)
    first = fake_training(vis, [1, 2], iters_per_epoch=2)
    vis.close()
    resumed = Visualizer(make_opt(tmp_path, continue_train=True), interactive=False)
    assert resumed.history.xs == pytest.approx(first)
    again = fake_training(resumed, [2], iters_per_epoch=2, start_iters=4)  # resumed at the start of epoch 2
    resumed.close()
    assert resumed.history.xs == pytest.approx(first[:2] + again)
    fresh = Visualizer(make_opt(tmp_path), interactive=False)  # a new run does not inherit the curve
    assert fresh.history.xs == []
    fresh.close()


def test_loss_plot_breaks_lines_at_missing_values(tmp_path):
    vis = Visualizer(make_opt(tmp_path), interactive=False)
    vis.plot_current_losses(1, 0.5, OrderedDict(G=1.0, D=0.5), 1)
    vis.plot_current_losses(1, 1.0, OrderedDict(G=math.nan), 2)  # a NaN loss and a missing one
    vis.plot_current_losses(2, 0.5, OrderedDict(G=0.8, D=0.4), 3)
    vis.close()
    html = (tmp_path / "checkpoints" / "exp" / "web" / "index.html").read_text()
    assert len(re.findall(r'class="loss-line" data-loss="G"', html)) == 1
    assert len(re.findall(r'class="loss-line-part" data-loss="D"', html)) == 1
    assert "nan" not in html.lower().split("<svg", 1)[1].split("</svg>", 1)[0]


# ---------------------------------------------------------------------------------------------------- optional backends
def test_tensorboard_gets_scalars_and_images(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    vis = Visualizer(make_opt(tmp_path, use_tensorboard=True), interactive=False)
    fake_training(vis, [1], iters_per_epoch=3)
    fake_validation(vis, 1, 6, previews=3)
    vis.close()
    acc = EventAccumulator(str(tmp_path / "checkpoints" / "exp" / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()
    assert {f"loss/{name}" for name in LOSS_NAMES} | {"lr", "time_per_iter"} <= set(tags["scalars"])
    assert [(e.step, round(e.value, 3)) for e in acc.Scalars("loss/G_A")] == [(2, 0.333), (4, 0.2), (6, 0.143)]
    assert [e.value for e in acc.Scalars("lr")] == pytest.approx([0.0002] * 3)
    assert "visuals" in tags["images"]
    image = acc.Images("visuals")[-1]
    assert image.width > image.height > 0                      # the visuals side by side
    assert [(e.step, e.value) for e in acc.Scalars("val/psnr")] == [(6, pytest.approx(21.5))]
    previews = acc.Images("previews")[-1]
    assert previews.step == 6 and previews.height > previews.width > 0  # one preview image (of two) per row


@pytest.mark.slow
def test_wandb_offline_run(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb", reason="wandb is not installed (pip install wandb)")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    vis = Visualizer(make_opt(tmp_path, use_wandb=True, wandb_project_name="unit"), interactive=False)
    fake_training(vis, [1], iters_per_epoch=2)
    fake_validation(vis, 1, 4)
    vis.close()
    wandb.teardown()  # waits for wandb's writer process to flush the run file, as a process exit does
    runs = list((tmp_path / "checkpoints" / "exp" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    record = next(runs[0].glob("run-*.wandb")).read_bytes()
    for key in (b"loss/G_A", b"time_per_iter", b"results/fake_B", b"val/psnr", b"previews/fake_B"):
        assert key in record


@pytest.mark.parametrize("flag,module,package", [("use_tensorboard", "torch.utils.tensorboard", "tensorboard"),
                                                 ("use_wandb", "wandb", "wandb")])
def test_missing_optional_package_is_one_clear_error(tmp_path, monkeypatch, flag, module, package):
    monkeypatch.setitem(sys.modules, module, None)             # makes the import fail
    with pytest.raises(UserError) as err:
        Visualizer(make_opt(tmp_path, **{flag: True}), interactive=False)
    assert f"--{flag}" in str(err.value) and f"pip install {package}" in str(err.value)
    assert not (tmp_path / "checkpoints").exists()            # nothing written before the error
