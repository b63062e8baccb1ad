"""Models against the reference: CycleGAN steps from the fixture, the model API, and training-state round trips."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models import create_model
from options.test_options import TestOptions
from options.train_options import TrainOptions
from tests.conftest import FIXTURES, TINY, TINY_TEST, needs_fixture

# float64: in float32 Adam turns rounding noise into +-lr steps that differ between machines (fixture README)
STEPS = FIXTURES / "steps64" / "cycle_gan.pt"


def fixture_argv(fixture: dict, dataroot: Path, checkpoints: Path) -> list:
    argv = list(fixture["argv"])
    argv[argv.index("--dataroot") + 1] = str(dataroot)
    argv[argv.index("--checkpoints_dir") + 1] = str(checkpoints)
    return argv


@pytest.mark.slow
@needs_fixture(STEPS)
def test_cycle_gan_steps_match_reference(unaligned_root: Path, tmp_path: Path, float64) -> None:
    fixture = torch.load(STEPS, weights_only=True)
    opt = TrainOptions().parse(fixture_argv(fixture, unaligned_root, tmp_path), save=False)
    model = create_model(opt)
    model.setup(opt)
    for name, state in fixture["init"].items():
        getattr(model, "net" + name).load_state_dict(state)
    assert next(model.netG_A.parameters()).dtype == torch.float64
    for batch, expected in zip(fixture["batches"], fixture["losses"]):
        model.set_input({"A": batch["A"], "B": batch["B"], "A_paths": ["a"], "B_paths": ["b"]})
        model.optimize_parameters()
        losses = model.get_current_losses()
        assert list(losses) == list(expected)
        for key, value in expected.items():
            assert losses[key] == pytest.approx(float(value), rel=1e-6, abs=1e-9), key
    for name, state in fixture["final"].items():
        ours = getattr(model, "net" + name).state_dict()
        assert set(ours) == set(state)
        for key, tensor in state.items():
            torch.testing.assert_close(ours[key], tensor, rtol=1e-6, atol=1e-6, msg=f"{name}.{key}")


def test_model_api_names(unaligned_root: Path, aligned_root: Path, tmp_path: Path) -> None:
    base = ["--checkpoints_dir", str(tmp_path), *TINY_TEST]
    cyc = create_model(TrainOptions().parse(["--dataroot", str(unaligned_root), *base], save=False))
    assert cyc.loss_names == ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]
    assert cyc.visual_names == ["real_A", "fake_B", "rec_A", "idt_B", "real_B", "fake_A", "rec_B", "idt_A"]
    assert cyc.model_names == ["G_A", "G_B", "D_A", "D_B"]
    p2p = create_model(TrainOptions().parse(["--dataroot", str(aligned_root), "--model", "pix2pix",
                                             "--netG", "unet_128", *base, "--load_size", "128", "--crop_size", "128"],
                                            save=False))
    assert p2p.loss_names == ["G_GAN", "G_L1", "D_real", "D_fake"] and p2p.model_names == ["G", "D"]
    assert p2p.netD.model[0].in_channels == 6  # conditional D sees A and B stacked
    tst = create_model(TestOptions().parse(["--dataroot", str(unaligned_root / "testA"), "--model_suffix", "_A",
                                            "--results_dir", str(tmp_path), *base], save=False))
    assert tst.model_names == ["G_A"] and tst.netG_A is tst.netG and tst.visual_names == ["real", "fake"]


@pytest.mark.slow
def test_training_state_round_trip(unaligned_root: Path, tmp_path: Path) -> None:
    argv = ["--dataroot", str(unaligned_root), "--checkpoints_dir", str(tmp_path), "--pool_size", "4", *TINY]
    opt = TrainOptions().parse(argv, save=False)
    model = create_model(opt)
    model.setup(opt)
    batch = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1,
             "A_paths": ["a"], "B_paths": ["b"]}
    for _ in range(2):
        model.set_input(batch)
        model.optimize_parameters()
    model.update_learning_rate()
    model.save_networks("latest", {"epoch": 1, "epoch_iter": 2, "total_iters": 2, "epoch_done": True,
                                   "epoch_rng": None})
    files = sorted(p.name for p in (tmp_path / opt.name).iterdir())
    assert files == ["latest_net_D_A.pth", "latest_net_D_B.pth", "latest_net_G_A.pth", "latest_net_G_B.pth",
                     "latest_train_state.pth"]
    plain = torch.load(tmp_path / opt.name / "latest_net_G_A.pth", weights_only=True)
    assert set(plain) == set(model.netG_A.state_dict()) and all(t.device.type == "cpu" for t in plain.values())
    expected_next = torch.rand(3)

    opt2 = TrainOptions().parse(argv + ["--continue_train"], save=False)
    resumed = create_model(opt2)
    resumed.setup(opt2)
    counters = resumed.load_training_state("latest")
    assert counters["total_iters"] == 2 and counters["epoch_done"]
    assert torch.equal(torch.rand(3), expected_next)  # RNG restored to the moment of saving
    assert len(resumed.fake_A_pool.images) == 2
    a, b = model.optimizer_G.state_dict()["state"], resumed.optimizer_G.state_dict()["state"]
    assert all(torch.equal(a[k]["exp_avg"], b[k]["exp_avg"]) for k in a)
    assert resumed.schedulers[0].last_epoch == 1
