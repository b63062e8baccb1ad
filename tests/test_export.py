"""scripts/export.py: TorchScript and ONNX files that match PyTorch, dynamic axes, and clear errors."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models import checkpoint, networks
from options.train_options import TrainOptions
from tests.conftest import TINY, run_script, write_image
from util.errors import UserError

from scripts import export

HAVE_ONNX = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="optional packages onnx / onnxruntime are not installed")

# generator kind -> norm: the ResNets as CycleGAN trains them, the U-Nets as pix2pix does (batch norm)
KINDS = {"resnet_9blocks": "instance", "resnet_6blocks": "instance", "unet_128": "batch", "unet_256": "batch"}


def save_generator(path: Path, netG: str, norm: str, dropout: bool = False) -> torch.nn.Module:
    """A generator with non-trivial weights (and batch-norm statistics, as after training) saved as a .pth."""
    torch.manual_seed(0)
    net = networks.define_G(3, 3, 8, netG, norm, dropout, init_type="xavier", init_gain=1.0)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint.state_dict_for_saving(net), path)
    return net.eval()


@pytest.mark.slow
@needs_onnx
@pytest.mark.parametrize("netG", list(KINDS))
def test_export_parity(netG: str, tmp_path: Path) -> None:
    import onnx
    import onnxruntime

    ckpt = tmp_path / "latest_net_G.pth"
    net = save_generator(ckpt, netG, KINDS[netG])
    results = export.export(export.parse_args(["--checkpoint", str(ckpt), "--out", str(tmp_path / "out")]))
    print(netG, [(r.format, r.shape, f"{r.max_abs_diff:.2e}") for r in results])
    multiple = 4 if netG.startswith("resnet") else int(netG[-3:])
    shapes = {4: [(1, 3, 64, 64), (2, 3, 96, 128)], 128: [(1, 3, 128, 128), (2, 3, 128, 256)],
              256: [(1, 3, 256, 256), (2, 3, 256, 512)]}[multiple]
    assert {(r.format, r.shape) for r in results} == {(f, s) for f in ("torchscript", "onnx") for s in shapes}
    assert all(r.max_abs_diff <= 1e-4 for r in results)

    model = onnx.load(str(tmp_path / "out" / "latest_net_G.onnx"))
    assert model.opset_import[0].version == export.DEFAULT_OPSET
    for value in (model.graph.input[0], model.graph.output[0]):
        assert [d.dim_param for d in value.type.tensor_type.shape.dim] == ["batch", "", "height", "width"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["value_range"] == "[-1, 1]" and meta["size_multiple"] == str(multiple)
    assert json.loads(meta["generator"])["netG"] == netG

    # a third batch size and spatial size, straight through onnxruntime and torch.jit.load
    x = torch.rand((3, 3, multiple, 2 * multiple) if multiple > 4 else (3, 3, 40, 44)) * 2 - 1
    with torch.no_grad():
        expected = net(x).numpy()
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "latest_net_G.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"input": x.numpy()})[0] - expected).max() <= 1e-4
    extra = {"metadata.json": ""}
    with export.quiet_export_warnings():  # torch.jit.load is deprecated in favour of torch.export
        scripted = torch.jit.load(str(tmp_path / "out" / "latest_net_G.pt"), _extra_files=extra)
    with torch.no_grad():
        assert np.abs(scripted(x).numpy() - expected).max() <= 1e-5
    assert json.loads(extra["metadata.json"])["size_multiple"] == str(multiple)


@needs_onnx
def test_export_cli_from_run(tmp_path: Path) -> None:
    """--name reads the architecture from train_opt.txt (resnet_6blocks here, not the default 9 blocks)."""
    ckpt = tmp_path / "checkpoints"
    write_image(tmp_path / "data" / "a.png")
    TrainOptions().parse(["--dataroot", str(tmp_path / "data"), "--name", "run", "--checkpoints_dir", str(ckpt),
                          "--netG", "resnet_6blocks", "--no_dropout", *TINY])  # writes train_opt.txt
    save_generator(ckpt / "run" / "latest_net_G_A.pth", "resnet_6blocks", "instance")
    proc = run_script("scripts/export.py", ["--name", "run", "--checkpoints_dir", str(ckpt), "--net", "G_A",
                                            "--out", str(tmp_path / "out")])
    assert (tmp_path / "out" / "run_latest_net_G_A.pt").is_file()
    assert (tmp_path / "out" / "run_latest_net_G_A.onnx").is_file()
    assert "parity check passed" in proc.stdout and "[-1, 1]" in proc.stdout and "multiples of 4" in proc.stdout
    assert proc.stdout.count("onnx ") >= 2 and "Warning" not in proc.stderr
    assert not list((tmp_path / "out").glob(".*.tmp"))

    with pytest.raises(checkpoint.CheckpointMismatchError, match="--ngf 8, but --ngf is 16"):  # a flag wins
        export.export(export.parse_args(["--name", "run", "--checkpoints_dir", str(ckpt), "--ngf", "16",
                                         "--out", str(tmp_path / "bad")]))
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
@needs_onnx
def test_parity_failure_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "setup_logging", lambda: None)  # keep pytest's logging set-up
    ckpt = tmp_path / "g.pth"
    save_generator(ckpt, "resnet_6blocks", "instance")
    with pytest.raises(SystemExit) as stop:
        export.main(["--checkpoint", str(ckpt), "--format", "onnx", "--tolerance", "0", "--out", str(tmp_path)])
    assert stop.value.code == 1
    assert "parity check failed: onnx differs from PyTorch" in capsys.readouterr().err


@pytest.mark.slow
def test_missing_onnx_packages_name_the_pip_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = tmp_path / "g.pth"
    save_generator(ckpt, "resnet_6blocks", "instance")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(UserError, match="pip install .*onnxruntime"):
        export.export(export.parse_args(["--checkpoint", str(ckpt), "--out", str(tmp_path / "out")]))
    assert not (tmp_path / "out").exists()  # nothing written before the check
    export.export(export.parse_args(["--checkpoint", str(ckpt), "--format", "torchscript",
                                     "--out", str(tmp_path / "out")]))  # TorchScript needs no extra package
    assert (tmp_path / "out" / "g.pt").is_file() and not (tmp_path / "out" / "g.onnx").exists()


def test_bad_opset_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--opset 9 is not supported; choose 11 to 20"):
        export.export(export.parse_args(["--checkpoint", str(tmp_path / "g.pth"), "--opset", "9"]))


def test_net_is_for_runs_only(tmp_path: Path) -> None:
    ckpt = tmp_path / "g.pth"
    save_generator(ckpt, "resnet_6blocks", "instance")
    with pytest.raises(UserError, match="--net picks networks of a run"):
        export.export(export.parse_args(["--checkpoint", str(ckpt), "--net", "G_A", "G_B", "--format", "torchscript"]))
