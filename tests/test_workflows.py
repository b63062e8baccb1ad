"""The tutorials' workflows that train.py serves: unpaired folders with other names (--dirA/--dirB), keeping the
last N checkpoints (--keep_last) and the model graph in TensorBoard."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import data
from tests.conftest import TINY, run_script, write_image
from util.errors import UserError


def walkthrough_folders(root: Path) -> Path:
    """The CycleGAN-TensorFlow walkthrough's layout: a_resized/ and b_resized/, no trainA/trainB."""
    for i in range(3):
        write_image(root / "a_resized" / f"apple{i}.jpg", (40, 40), seed=i)
    for i in range(2):
        write_image(root / "b_resized" / f"orange{i}.jpg", (40, 40), seed=10 + i)
    return root


def unaligned_opt(root: Path, **flags: object) -> argparse.Namespace:
    values = dict(dataroot=str(root), phase="train", max_dataset_size=float("inf"), direction="AtoB", input_nc=3,
                  output_nc=3, preprocess="resize_and_crop", load_size=36, crop_size=32, no_flip=False,
                  serial_batches=True)
    return argparse.Namespace(**{**values, **flags})


def test_dirA_dirB_name_the_folders(tmp_path: Path) -> None:
    root = walkthrough_folders(tmp_path / "apples")
    dataset_class = data.find_dataset_using_name("unaligned")
    dataset = dataset_class(unaligned_opt(root, dirA="a_resized", dirB=str(root / "b_resized")))  # absolute too
    assert len(dataset) == 3 and Path(dataset[1]["A_paths"]).name == "apple1.jpg"
    assert Path(dataset[1]["B_paths"]).name == "orange1.jpg"
    assert dataset.image_folders() == {str(root / "a_resized"): dataset.A_paths,
                                       str(root / "b_resized"): dataset.B_paths}
    with pytest.raises(UserError, match=r"^--dirB b_resize: folder .*b_resize not found \(a relative --dirB is "
                                        r"inside --dataroot\)$"):
        dataset_class(unaligned_opt(root, dirA="a_resized", dirB="b_resize"))
    with pytest.raises(UserError, match="trainB' is not a folder"):  # without the flag: the reference's names
        dataset_class(unaligned_opt(root, dirA="a_resized"))


def test_train_and_check_dataset_with_dirA_dirB(tmp_path: Path) -> None:
    root = walkthrough_folders(tmp_path / "apples")
    folders = ["--dirA", "a_resized", "--dirB", "b_resized"]
    check = run_script("scripts/check_dataset.py", ["--dataroot", str(root), *folders, "--load_size", "36",
                                                    "--crop_size", "32"])
    assert "a_resized" in check.stdout and "b_resized" in check.stdout
    run_script("train.py", ["--dataroot", str(root), *folders, "--name", "a2o", "--checkpoints_dir",
                            str(tmp_path / "ckpt"), *TINY, "--n_epochs", "1", "--n_epochs_decay", "0"])
    assert (tmp_path / "ckpt" / "a2o" / "latest_net_G_A.pth").is_file()
    assert "dirA: a_resized" in (tmp_path / "ckpt" / "a2o" / "train_opt.txt").read_text()


def test_keep_last_2_over_4_epochs(tmp_path: Path) -> None:
    """Epoch saves and iteration saves each keep their 2 newest sets; latest and a best_* set stay."""
    root = walkthrough_folders(tmp_path / "apples")
    run_dir = tmp_path / "ckpt" / "a2o"
    run_dir.mkdir(parents=True)
    (run_dir / "best_fid_net_G_A.pth").write_bytes(b"best")  # the evaluation's best checkpoint: never pruned
    proc = run_script("train.py", ["--dataroot", str(root), "--dirA", "a_resized", "--dirB", "b_resized",
                                   "--name", "a2o", "--checkpoints_dir", str(tmp_path / "ckpt"), *TINY,
                                   "--max_dataset_size", "1", "--n_epochs", "4", "--n_epochs_decay", "0",
                                   "--save_epoch_freq", "1", "--save_by_iter", "--save_latest_freq", "1",
                                   "--keep_last", "2"])
    files = {p.name for p in run_dir.glob("*.pth")}
    sets = {name.split("_net_")[0].split("_train_state")[0] for name in files}
    assert sets == {"3", "4", "iter_3", "iter_4", "latest", "best_fid"}
    for prefix in ("3", "4", "iter_3", "iter_4", "latest"):  # every kept set is whole
        assert {f"{prefix}_net_{n}.pth" for n in ("G_A", "G_B", "D_A", "D_B")} | {f"{prefix}_train_state.pth"} <= files
    assert "--keep_last 2: removed 1_net_D_A.pth" in proc.stdout
    assert not list(run_dir.glob(".*.tmp"))


def test_keep_last_keeps_the_new_saves_of_a_run_resumed_from_an_earlier_epoch(tmp_path: Path) -> None:
    """--continue_train --epoch 1 while sets 2 to 4 are there: each new save outranks the abandoned higher
    numbers (ordered by number alone, every new save was removed at once)."""
    from models.base_model import BaseModel

    def write_set(prefix: str) -> None:
        for part in ("net_G_A.pth", "train_state.pth"):
            (tmp_path / f"{prefix}_{part}").write_bytes(b"")

    def sets() -> set[str]:
        return {p.name.split("_net_")[0] for p in tmp_path.glob("*_net_G_A.pth")}

    for prefix in ("1", "2", "3", "4", "iter_8", "latest", "best_psnr"):
        write_set(prefix)
    run = SimpleNamespace(save_dir=str(tmp_path), _saved_sets=[])  # the state remove_old_checkpoints keeps
    BaseModel.remove_old_checkpoints(run, 2, "latest")
    assert sets() == {"3", "4", "iter_8", "latest", "best_psnr"}
    for saved, kept in (("2", {"4", "2"}), ("3", {"2", "3"}), ("4", {"3", "4"})):
        write_set(saved)
        BaseModel.remove_old_checkpoints(run, 2, saved)
        assert sets() == kept | {"iter_8", "latest", "best_psnr"}, saved
    assert {p.name for p in tmp_path.iterdir()} == {f"{prefix}_{part}" for prefix in sets()
                                                   for part in ("net_G_A.pth", "train_state.pth")}


def test_keep_last_must_not_be_negative(tmp_path: Path) -> None:
    from options.train_options import TrainOptions

    with pytest.raises(SystemExit):
        TrainOptions().parse(["--dataroot", str(tmp_path), "--keep_last", "-1", *TINY], save=False)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_graph_once_and_training_unchanged(tmp_path: Path) -> None:
    """--use_tensorboard writes the generator's graph once per run, and tracing it changes nothing trained (batch
    norm: a trace of the training network itself would move its running statistics)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto.graph_pb2 import GraphDef

    root = walkthrough_folders(tmp_path / "apples")
    common = ["--dataroot", str(root), "--dirA", "a_resized", "--dirB", "b_resized", *TINY, "--seed", "0",
              "--norm", "batch", "--n_epochs", "2", "--n_epochs_decay", "0", "--print_freq", "1",
              "--checkpoints_dir", str(tmp_path / "ckpt")]
    run_script("train.py", [*common, "--name", "tb", "--use_tensorboard"])
    run_script("train.py", [*common, "--name", "plain"])

    events = [event for path in sorted((tmp_path / "ckpt" / "tb" / "tensorboard").glob("events.out.tfevents.*"))
              for event in EventFileLoader(str(path)).Load()]
    graphs = [event.graph_def for event in events if event.HasField("graph_def")]
    assert len(graphs) == 1
    graph = GraphDef.FromString(graphs[0])
    ops = {node.op for node in graph.node}
    assert "aten::_convolution" in ops and "aten::tanh" in ops  # the ResNet generator: convs, then tanh
    assert any(event.summary.value and event.summary.value[0].tag.startswith("loss/") for event in events)

    for name in ("G_A", "G_B", "D_A", "D_B"):
        traced = torch.load(tmp_path / "ckpt" / "tb" / f"latest_net_{name}.pth", weights_only=True)
        plain = torch.load(tmp_path / "ckpt" / "plain" / f"latest_net_{name}.pth", weights_only=True)
        assert all(torch.equal(traced[key], plain[key]) for key in plain), name


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_a_graph_that_cannot_be_traced_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from monitoring.base_sink import SinkContext
    from monitoring.history import LossHistory
    from monitoring.tensorboard_sink import TensorboardSink

    class Untraceable(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # raises while add_graph traces it
                raise RuntimeError("cannot trace this")
            return x

    context = SinkContext(argparse.Namespace(display_ncols=4), tmp_path, 1, LossHistory(), False, None)
    sink = TensorboardSink(context)
    with caplog.at_level("WARNING", logger="monitoring.tensorboard_sink"):
        sink.graph(Untraceable(), torch.ones(2, 3, 8, 8))
    sink.close()
    assert "the model graph could not be traced, training goes on without it (cannot trace this)" in caplog.text
