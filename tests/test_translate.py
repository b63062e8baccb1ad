"""scripts/translate.py: the deploy walkthrough (train, export both directions, translate one photo) and its errors."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.inference import load_model_file
from tests.conftest import TINY, TINY_TEST, make_unaligned, run_script, write_image
from util.errors import UserError

from scripts import translate

HAVE_ONNX = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CycleGAN trained by train.py, both directions exported by one export.py call."""
    root = tmp_path_factory.mktemp("deploy")
    data = make_unaligned(root / "data", n=2)
    run_script("train.py", ["--dataroot", str(data), "--name", "a2o", "--checkpoints_dir", str(root / "ckpt"), *TINY,
                            "--netG", "resnet_6blocks", "--n_epochs", "1", "--n_epochs_decay", "0"])
    formats = ["torchscript", "onnx"] if HAVE_ONNX else ["torchscript"]
    proc = run_script("scripts/export.py", ["--name", "a2o", "--checkpoints_dir", str(root / "ckpt"),
                                            "--net", "G_A", "G_B", "--format", *formats, "--out", str(root / "out")])
    assert "parity check passed" in proc.stdout and "scripts/translate.py --model" in proc.stdout
    return root


def test_translate_pth_pt_onnx_match_test_py(exported: Path) -> None:
    """The same photo (not a multiple of 4 in either side) through test.py --model test and translate.py."""
    photo = write_image(exported / "photos" / "apple.png", size=(50, 38), seed=7)
    run_script("test.py", ["--dataroot", str(photo.parent), "--name", "a2o", "--checkpoints_dir",
                           str(exported / "ckpt"), "--results_dir", str(exported / "results"), "--model", "test",
                           "--model_suffix", "_A", "--keep_size", "--eval", *TINY_TEST])
    expected = pixels(exported / "results" / "a2o" / "test_latest" / "images" / "apple_fake.png")
    assert expected.shape == (38, 50, 3)

    models = [exported / "ckpt" / "a2o" / "latest_net_G_A.pth", exported / "out" / "a2o_latest_net_G_A.pt"]
    if HAVE_ONNX:
        models.append(exported / "out" / "a2o_latest_net_G_A.onnx")
    for model in models:  # the .pth takes its architecture (resnet_6blocks, ngf 8) from the run's train_opt.txt
        out = exported / f"orange_{model.suffix[1:]}.png"
        proc = run_script("scripts/translate.py", ["--model", str(model), "--input", str(photo), "--output", str(out)])
        assert "translated 1 image(s)" in proc.stdout and "Warning" not in proc.stderr
        got = pixels(out)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1, model.name

    g_b = exported / "out" / "a2o_latest_net_G_B.pt"  # the other direction, exported by the same call
    run_script("scripts/translate.py", ["--model", str(g_b), "--input", str(photo), "--output",
                                        str(exported / "back.png")])
    assert not np.array_equal(pixels(exported / "back.png"), expected)


def test_translate_folder_mirrors_it_as_png(exported: Path) -> None:
    photos = exported / "album"
    write_image(photos / "a.jpg", size=(40, 32))
    write_image(photos / "trip" / "b.png", size=(30, 45), seed=2)
    run_script("scripts/translate.py", ["--model", str(exported / "out" / "a2o_latest_net_G_A.pt"),
                                        "--input", str(photos), "--output", str(exported / "album_out")])
    assert Image.open(exported / "album_out" / "a.png").size == (40, 32)
    assert Image.open(exported / "album_out" / "trip" / "b.png").size == (30, 45)


def test_plan_errors_name_the_flag(tmp_path: Path) -> None:
    photo = write_image(tmp_path / "in" / "a.png")
    with pytest.raises(UserError, match="--input .* not found"):
        translate.plan(tmp_path / "missing.png", tmp_path / "out.png")
    with pytest.raises(UserError, match="--output .*cannot tell the image format"):
        translate.plan(photo, tmp_path / "out.xyz")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(UserError, match="--output .* is a file, but --input .* is a folder"):
        translate.plan(photo.parent, tmp_path / "file.png")
    (tmp_path / "outdir").mkdir()
    assert translate.plan(photo, tmp_path / "outdir") == [(photo, tmp_path / "outdir" / "a.png")]
    assert translate.plan(photo.parent, tmp_path / "new") == [(photo, tmp_path / "new" / "a.png")]
    # nothing a run reads is overwritten: not the photo, not the photos of a folder
    with pytest.raises(UserError, match=r"--output .*a\.png is the --input image"):
        translate.plan(photo, photo.parent)
    with pytest.raises(UserError, match=r"--output .*out is inside --input .*in: the results would replace"):
        translate.plan(photo.parent, photo.parent / "out")
    with pytest.raises(UserError, match=r"--output .*in is inside --input"):
        translate.plan(photo.parent, photo.parent)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"^--input .*empty holds no images \(.jpg, .png, ...\) in it or its "
                                        r"sub-folders$"):
        translate.plan(tmp_path / "empty", tmp_path / "new")


def test_model_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="expected a .pth checkpoint, a TorchScript .pt or an .onnx file"):
        load_model_file(tmp_path / "g.h5")
    with pytest.raises(UserError, match="--model .*g.pt not found"):
        load_model_file(tmp_path / "g.pt")
    (tmp_path / "g.pt").write_bytes(b"not a model")
    with pytest.raises(UserError, match="cannot read TorchScript model"):
        load_model_file(tmp_path / "g.pt")


def test_onnx_without_onnxruntime_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime is an optional extra: translate.py names the pip command instead of a traceback."""
    (tmp_path / "g.onnx").write_bytes(b"an onnx file")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(UserError, match=r"^running .*g\.onnx needs the optional package onnxruntime: "
                                        r"pip install onnxruntime$"):
        load_model_file(tmp_path / "g.onnx")
