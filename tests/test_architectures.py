"""The architecture table: names and patterns, registration, layouts read back from checkpoints, and the
resnet_<N>blocks generator through train.py and test.py."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from torch import nn

from models import architectures, networks
from models.architectures import CheckpointLayout, Choices, read_unet_layout
from models.checkpoint import CheckpointMismatchError, load_network_weights
from models.inference import architecture_from_state_dict
from options.train_options import TrainOptions
from tests.conftest import TINY, TINY_TEST, make_unaligned, run_script
from util.errors import UserError
from util.fileio import load_checkpoint_file


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Dict[str, List[architectures.Architecture]]:
    """The table, restored after the test, so that a test may register networks."""
    copy = {kind: list(entries) for kind, entries in architectures._TABLE.items()}
    monkeypatch.setattr(architectures, "_TABLE", copy)
    return copy


def n_blocks(net: nn.Module) -> int:
    return sum(isinstance(m, networks.ResnetBlock) for m in net.modules())


def test_resnet_pattern_builds_any_block_count() -> None:
    for n in (1, 4, 6, 9, 12):
        assert n_blocks(networks.define_G(3, 3, 8, f"resnet_{n}blocks")) == n
        assert architectures.generator(f"resnet_{n}blocks").multiple == 4
    for bad in ("resnet_0blocks", "resnet_blocks", "resnet_-1blocks", "resnet_4blocksx", "resnet_04blocks"):
        assert architectures.find(architectures.GENERATOR, bad) is None
        with pytest.raises(UserError, match=r"--netG .* choose one of resnet_<n_blocks>blocks \| unet_256 \| unet_128"):
            networks.define_G(3, 3, 8, bad)


def test_flag_choices_follow_the_table() -> None:
    parser = architectures.add_architecture_flags(argparse.ArgumentParser())
    assert parser.parse_args(["--netG", "resnet_4blocks"]).netG == "resnet_4blocks"
    assert parser.parse_args([]).netG == "resnet_9blocks" and parser.parse_args([]).netD == "basic"
    assert list(Choices(architectures.DISCRIMINATOR)) == ["basic", "n_layers", "pixel", "multiscale"]
    given_only = architectures.add_architecture_flags(argparse.ArgumentParser(), given_only=True).parse_args([])
    assert all(getattr(given_only, flag) is None for flag in architectures.ARCHITECTURE_FLAGS)


def test_a_checkpoint_names_the_block_count_it_was_saved_with() -> None:
    four = networks.define_G(3, 3, 8, "resnet_4blocks", "instance").state_dict()
    assert architecture_from_state_dict(four)["netG"] == "resnet_4blocks"
    with pytest.raises(CheckpointMismatchError, match="it looks like --netG resnet_4blocks, but --netG is "
                                                      "resnet_9blocks"):
        load_network_weights(networks.define_G(3, 3, 8, "resnet_9blocks", "instance"), four, "four.pth",
                             {"netG": "resnet_9blocks"})
    five_layers = networks.define_D(3, 8, "n_layers", 5).state_dict()
    layout = architectures.read_layout(five_layers)
    assert layout is not None and architectures.describe(layout) == "--netD n_layers --n_layers_D 5"


def test_registering_a_generator_is_one_call(table: Any) -> None:
    """A U-Net with 5 downsamplings: built by define_G, accepted by the flags, named in mismatch messages."""

    def build(*, input_nc: int, output_nc: int, ngf: int, norm_layer: Any, use_dropout: bool, **_: Any) -> nn.Module:
        return networks.UnetGenerator(input_nc, output_nc, 5, ngf, norm_layer=norm_layer, use_dropout=use_dropout)

    architectures.register_generator("unet_32", build, multiple=32, layout=CheckpointLayout(read_unet_layout, depth=5))
    net = networks.define_G(3, 3, 8, "unet_32", "batch", extra_flag_of_some_model=1)
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    assert "unet_32" in Choices(architectures.GENERATOR)
    assert architecture_from_state_dict(net.state_dict())["netG"] == "unet_32"
    with pytest.raises(CheckpointMismatchError, match="it looks like --netG unet_32, but --netG is unet_128"):
        load_network_weights(networks.define_G(3, 3, 8, "unet_128", "batch"), net.state_dict(), "u.pth",
                             {"netG": "unet_128"})
    with pytest.raises(ValueError, match="already registered"):
        architectures.register_generator("unet_32", build, multiple=32, layout=CheckpointLayout(read_unet_layout))


def test_unnamed_depth_is_described_in_words() -> None:
    nine_downs = networks.UnetGenerator(3, 3, 9, 8).state_dict()
    layout = architectures.read_layout(nine_downs)
    assert layout is not None and architectures.describe(layout) == "a U-Net generator with 9 downsamplings"


@pytest.mark.slow
def test_resnet_4blocks_trains_and_its_checkpoint_loads_in_test_py(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "data", n=2)
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    run_script("train.py", ["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", "r4", *TINY,
                            "--netG", "resnet_4blocks", "--n_epochs", "1", "--n_epochs_decay", "0",
                            "--max_dataset_size", "2", "--no_html", "--print_freq", "1"])
    saved = load_checkpoint_file(ckpt / "r4" / "latest_net_G_A.pth")
    assert architecture_from_state_dict(saved)["netG"] == "resnet_4blocks"
    # test.py takes --netG from the run's train_opt.txt and loads the file strictly
    proc = run_script("test.py", ["--dataroot", str(root / "testA"), "--checkpoints_dir", str(ckpt), "--name", "r4",
                                  "--results_dir", str(results), "--model", "test", "--model_suffix", "_A",
                                  *TINY_TEST, "--num_test", "1"])
    assert "netG: resnet_4blocks" in (results / "r4" / "test_opt.txt").read_text()
    assert "wrote 1 result(s)" in proc.stdout
    assert len(list(results.glob("r4/test_latest/images/*_fake.png"))) == 1


@pytest.mark.parametrize("flags", [["--netG", "global"], ["--netD", "multiscale"]])
def test_a_network_of_another_model_is_refused(flags: List[str], aligned_root: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    argv = ["--dataroot", str(aligned_root), "--checkpoints_dir", str(tmp_path), "--model", "pix2pix", *flags]
    with pytest.raises(SystemExit) as stop:
        TrainOptions().parse(argv, save=False)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{flags[0]}: {flags[1]} is the pix2pixhd model's network" in err
