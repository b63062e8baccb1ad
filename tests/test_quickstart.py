"""The quick start: its measure of the translations (scripts/quickstart_score.py) and the runs themselves."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
from PIL import Image

from datasets import make_toy_dataset as toy
from scripts import quickstart_score as score
from tests.conftest import ROOT, run_script

QUICKSTART = ROOT / "scripts" / "quickstart.sh"


def _shapes(n: int, seed: int = 0, size: int = 64) -> list:
    rng = np.random.RandomState(seed)
    return [toy.random_shape(rng, size) for _ in range(n)]


def _rgb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


def test_foreground_and_iou() -> None:
    rgb = np.full((4, 4, 3), 255, np.uint8)
    rgb[0, 0] = (199, 199, 199)  # every channel below 200: ink
    rgb[0, 1] = (10, 10, 200)  # one channel at 200: background
    rgb[1, 1] = (0, 0, 0)
    assert score.foreground(rgb).sum() == 2 and score.foreground(rgb)[0, 0] and score.foreground(rgb)[1, 1]
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert score.iou(a, b) == 1.0
    a[0, :2] = True
    b[0, 1:3] = True
    assert score.iou(a, b) == pytest.approx(1 / 3) and score.iou(a, a) == 1.0 and score.iou(a, ~a) == 0.0


def test_filled_region_of_a_ring_and_of_an_open_curve() -> None:
    ring = np.zeros((9, 9), bool)
    ring[2, 2:7] = ring[6, 2:7] = ring[2:7, 2] = ring[2:7, 6] = True
    inside = np.zeros((9, 9), bool)
    inside[2:7, 2:7] = True
    assert (score.filled(ring) == inside).all()
    diagonal = np.eye(5, dtype=bool) | np.eye(5, dtype=bool)[::-1]  # an X: encloses nothing
    assert (score.filled(diagonal) == diagonal).all()
    edge = np.zeros((5, 5), bool)
    edge[:, 2] = edge[2, :] = True  # touches the border: still encloses nothing
    assert (score.filled(edge) == edge).all()


def test_every_toy_outline_encloses_its_filled_shape_in_ink() -> None:
    """The measure and the toy data agree: the filled shapes are ink (every colour channel below 200), the
    wash inside an outline is not, even at its strongest, and the region inside an outline is the shape filled."""
    for shape in _shapes(200):
        solid = _rgb(toy.draw(shape, 64, filled=True))
        ink = score.foreground(solid)
        assert ink.sum() > 100
        assert (ink == (solid != 255).any(-1)).all()  # no shape pixel is too light
        bare = score.foreground(_rgb(toy.draw(shape, 64, filled=False, wash=0)))
        for wash in (toy.WASH, toy.MAX_WASH):
            outline = _rgb(toy.draw(shape, 64, filled=False, wash=wash))
            assert (outline != 255).any(-1).sum() > bare.sum()  # the wash is there...
            assert (score.foreground(outline) == bare).all()  # ...and it is not ink
        assert score.iou(score.filled(bare), ink) > 0.97


def test_toy_wash_out_of_range_is_named(tmp_path: Path) -> None:
    proc = run_script("datasets/make_toy_dataset.py", ["--root", str(tmp_path), "--wash", "0.5"], check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: --wash must be between 0 and {toy.MAX_WASH}, got 0.5"


def _results_folder(folder: Path, fake: str, n: int = 4) -> Path:
    """A test.py-like results folder of toy shapes whose fake_B is the filled shape or a copy of the outline."""
    images = folder / "images"
    images.mkdir(parents=True)
    for i, shape in enumerate(_shapes(n, seed=3)):
        outline, solid = toy.draw(shape, 64, filled=False), toy.draw(shape, 64, filled=True)
        outline.save(images / f"{i:04d}_real_A.png")
        solid.save(images / f"{i:04d}_real_B.png")
        (solid if fake == "filled" else outline).save(images / f"{i:04d}_fake_B.png")
    return folder


def test_score_script_says_whether_each_target_is_reached(tmp_path: Path) -> None:
    good, broken = _results_folder(tmp_path / "good", "filled"), _results_folder(tmp_path / "broken", "outline")
    proc = run_script("scripts/quickstart_score.py", ["--pix2pix", str(good), "--cyclegan", str(good)])
    assert proc.stdout.count("reached the target") == 2 and "pix2pix: mean IoU 1.000 over 4 test images" in proc.stdout
    proc = run_script("scripts/quickstart_score.py", ["--pix2pix", str(good), "--cyclegan", str(broken)], check=False)
    assert proc.returncode == 1
    assert "pix2pix: mean IoU 1.000" in proc.stdout and "MISSED the target 0.8" in proc.stdout
    assert max(score.score_cyclegan(broken)) < 0.6  # an outline copied through is far below the tests' bound


def test_score_script_names_a_bad_folder(tmp_path: Path) -> None:
    proc = run_script("scripts/quickstart_score.py", ["--cyclegan", str(tmp_path / "nowhere")], check=False)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: --cyclegan {tmp_path / 'nowhere'} is not a folder"]
    (tmp_path / "empty").mkdir()
    proc = run_script("scripts/quickstart_score.py", ["--pix2pix", str(tmp_path / "empty")], check=False)
    assert proc.returncode == 2 and "no *_fake_B.png images" in proc.stderr
    proc = run_script("scripts/quickstart_score.py", [], check=False)
    assert proc.returncode == 2 and "--pix2pix and/or --cyclegan" in proc.stderr


def _quickstart(*args: str, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(QUICKSTART), *args], cwd=ROOT, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, **env})


def test_quickstart_rejects_an_unknown_argument() -> None:
    proc = _quickstart("--bogus", env={})
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: unknown argument --bogus; usage: scripts/quickstart.sh [--gpu | --cpu] [--n_train N] [--seed S] "
        "[--out DIR]"]


@pytest.mark.slow
def test_quickstart_at_test_size_learns_both_translations(tmp_path: Path) -> None:
    """Both runs on fewer images (one thread each): far below the quick start's targets, but above what a
    model that copies the outline or draws a blob reaches."""
    proc = _quickstart("--cpu", "--n_train", "80", "--out", str(tmp_path), env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: a full-size target missed
    pix2pix = score.score_pix2pix(tmp_path / "results" / "shapes_pix2pix" / "test_latest")
    cyclegan = score.score_cyclegan(tmp_path / "results" / "shapes_cyclegan" / "test_latest")
    assert len(pix2pix) == len(cyclegan) == 20
    assert np.mean(pix2pix) >= 0.6 and np.mean(cyclegan) >= 0.6, (pix2pix, cyclegan)
    for name in ("shapes_pix2pix", "shapes_cyclegan"):
        assert (tmp_path / "checkpoints" / name / "web" / "index.html").is_file()


@pytest.mark.slow
def test_quickstart_as_the_readme_runs_it_learns_both_translations() -> None:
    # the targets (0.9, 0.8) are what the quick start reports to the user; how close a 2-minute run lands to them
    # varies with the CPU's rounding, so CI asserts the bound a broken model cannot reach and that both are said.
    # One thread: beside another test worker, two threads would wait on each other's core (4x slower here).
    proc = _quickstart(env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    means = [float(m) for m in re.findall(r"mean IoU ([0-9.]+)", proc.stdout)]
    assert len(means) == 2 and min(means) >= 0.6, proc.stdout[-3000:]
    assert proc.stdout.count("the target") == 2
    assert f"file://{ROOT}/results/shapes_cyclegan/test_latest/index.html" in proc.stdout
