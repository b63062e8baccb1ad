"""Networks, losses, schedulers and checkpoint loading against the reference's fixtures and key listings."""
from __future__ import annotations

import argparse
import logging
import math
import re
import warnings
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch
import torch.nn as nn

from models import checkpoint, networks
from models.checkpoint import CheckpointMismatchError
from util.errors import UserError
from util.fileio import load_checkpoint_file

from tests.conftest import FIXTURES, IN_CI, SHARED

NETWORK_FIXTURES = sorted((FIXTURES / "networks").glob("*.pt"))
LEGACY_G = FIXTURES / "legacy" / "checkpoints" / "resnet_in" / "latest_net_G.pth"
KEY_LISTING = SHARED / "spec" / "official_state_dict_keys.txt"


def need(path: Path) -> Path:
    """The fixture at ``path``; skipped when absent, except in CI, where a missing fixture fails."""
    if not path.exists():
        (pytest.fail if IN_CI else pytest.skip)(f"reference fixture {path} is absent")
    return path


def test_reference_network_fixtures_are_there() -> None:
    assert NETWORK_FIXTURES or not IN_CI, f"no reference network fixtures under {FIXTURES / 'networks'}"


def small_G(netG: str = "resnet_9blocks", norm: str = "instance", ngf: int = 8, dropout: bool = False,
            input_nc: int = 3, output_nc: int = 3) -> nn.Module:
    return networks.define_G(input_nc, output_nc, ngf, netG, norm, dropout)


def mismatch_message(net: nn.Module, state_dict: Dict[str, torch.Tensor], hints: Dict[str, object]) -> str:
    with pytest.raises(CheckpointMismatchError) as caught:
        checkpoint.load_network_weights(net, state_dict, "/ckpt/latest_net_G.pth", hints)
    message = str(caught.value)
    assert "/ckpt/latest_net_G.pth" in message
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- reference fixtures


@pytest.mark.parametrize("path", NETWORK_FIXTURES, ids=lambda p: p.stem)
def test_reference_fixture_loads_strictly_and_reproduces_output(path: Path) -> None:
    fixture = torch.load(path, weights_only=True)
    build = networks.define_G if fixture["kind"] == "G" else networks.define_D
    net = build(**fixture["args"])
    assert set(net.state_dict()) == set(fixture["state_dict"])
    net.load_state_dict(fixture["state_dict"], strict=True)
    net.eval()
    with torch.no_grad():
        output = net(fixture["input"])
    assert output.shape == fixture["output"].shape
    assert torch.allclose(output, fixture["output"], atol=1e-5, rtol=0)


def test_legacy_checkpoint_with_instance_norm_statistics_loads() -> None:
    state_dict = load_checkpoint_file(need(LEGACY_G))
    assert any(k.endswith("running_mean") for k in state_dict)
    net = small_G("resnet_9blocks", "instance", ngf=8, dropout=False)
    with pytest.raises(RuntimeError, match="running_mean"):
        net.load_state_dict(state_dict, strict=True)
    checkpoint.load_network_weights(net, state_dict, str(LEGACY_G))
    for key, value in net.state_dict().items():
        assert torch.equal(value, state_dict[key]), key
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        out = net.eval()(image)
    assert out.shape == image.shape and out.abs().max() <= 1


# --------------------------------------------------------------------------- layouts and counts


def parse_key_listing(path: Path) -> List[Tuple[str, Dict[str, Tuple[int, ...]], int]]:
    """[(header, {key: shape}, n_params)] for every configuration in the reference listing."""
    sections: List[Tuple[str, Dict[str, Tuple[int, ...]], int]] = []
    for line in path.read_text().splitlines():
        header = re.match(r"^### (.*?)\s+\(#keys=(\d+), #params=(\d+)\)$", line)
        if header:
            sections.append((header.group(1), {}, int(header.group(3))))
            continue
        entry = re.match(r"^\s+(\S+) \(([\d, ]*)\) \w+$", line)
        if entry:
            shape = tuple(int(d) for d in entry.group(2).replace(" ", "").split(",") if d)
            sections[-1][1][entry.group(1)] = shape
    return sections


def build_from_header(header: str, keys: Dict[str, Tuple[int, ...]]) -> nn.Module:
    words = header.split()
    settings = dict(w.split("=") for w in words[2:])
    if words[0] == "G":
        return networks.define_G(3, 3, 64, words[1], settings["norm"], settings["dropout"] == "1")
    if words[1].startswith("n_layers="):
        first = next(iter(keys.values()))
        return networks.define_D(first[1], 64, "n_layers", int(words[1].split("=")[1]), settings["norm"])
    return networks.define_D(3, 64, words[1], 3, settings["norm"])


def test_every_reference_configuration_has_the_same_keys_shapes_and_parameter_count() -> None:
    sections = parse_key_listing(need(KEY_LISTING))
    assert len(sections) == 15
    for header, keys, n_params in sections:
        with torch.device("meta"):
            net = build_from_header(header, keys)
        ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        assert list(ours) == list(keys), header
        assert ours == keys, header
        assert sum(p.numel() for p in net.parameters()) == n_params, header


@pytest.mark.parametrize("kind, name, norm, n_keys, n_params", [
    ("G", "resnet_9blocks", "instance", 48, 11_378_179),
    ("G", "resnet_6blocks", "instance", 36, 7_837_699),
    ("G", "unet_256", "batch", 82, 54_413_955),
    ("D", "basic", "instance", 10, 2_764_737),
    ("D", "pixel", "batch", 9, 8_832),
])
def test_key_and_parameter_counts_at_default_width(kind: str, name: str, norm: str, n_keys: int,
                                                   n_params: int) -> None:
    net = (networks.define_G(3, 3, 64, name, norm, True) if kind == "G"
           else networks.define_D(3, 64, name, 3, norm))
    assert len(net.state_dict()) == n_keys
    assert sum(p.numel() for p in net.parameters()) == n_params


def test_dropout_shifts_resnet_block_indices_but_not_unet_keys() -> None:
    plain, dropout = small_G(dropout=False).state_dict(), small_G(dropout=True).state_dict()
    assert "model.10.conv_block.5.weight" in plain and "model.10.conv_block.6.weight" in dropout
    assert len(plain) == len(dropout) and set(plain) != set(dropout)
    assert set(small_G("unet_128", "batch", dropout=False).state_dict()) == set(
        small_G("unet_128", "batch", dropout=True).state_dict())


@pytest.mark.parametrize("padding_type, pad_layer", [("reflect", nn.ReflectionPad2d),
                                                     ("replicate", nn.ReplicationPad2d), ("zero", None)])
def test_resnet_block_padding_types(padding_type: str, pad_layer: type) -> None:
    block = networks.ResnetBlock(4, padding_type, networks.get_norm_layer("instance"), False, True)
    convs = [i for i, m in enumerate(block.conv_block) if isinstance(m, nn.Conv2d)]
    assert convs == ([1, 5] if pad_layer else [0, 3])
    if pad_layer:
        assert isinstance(block.conv_block[0], pad_layer)
    x = torch.randn(1, 4, 8, 8)
    assert block(x).shape == x.shape
    with pytest.raises(ValueError):
        networks.ResnetBlock(4, "circular", networks.get_norm_layer("instance"), False, True)


@pytest.mark.parametrize("netD, n_layers, size", [("basic", 3, 30), ("n_layers", 4, 14), ("n_layers", 5, 6),
                                                   ("pixel", 3, 256)])
def test_discriminator_patch_sizes(netD: str, n_layers: int, size: int) -> None:
    net = networks.define_D(3, 4, netD, n_layers, "instance").eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 256, 256))
    assert out.shape == (1, 1, size, size)


def test_generators_keep_the_image_size_and_range() -> None:
    for netG, size in (("resnet_6blocks", 36), ("unet_128", 128)):
        net = small_G(netG, "batch", ngf=4).eval()
        with torch.no_grad():
            out = net(torch.randn(2, 3, size, size))
        assert out.shape == (2, 3, size, size) and out.abs().max() <= 1


def test_norm_layers_and_bias_rule() -> None:
    assert isinstance(networks.get_norm_layer("batch")(4), nn.BatchNorm2d)
    instance = networks.get_norm_layer("instance")(4)
    assert isinstance(instance, nn.InstanceNorm2d) and not instance.affine and instance.running_mean is None
    assert isinstance(networks.get_norm_layer("syncbatch")(4), networks.SyncBatchNorm)  # CPU-capable (DDP on gloo)
    identity = networks.get_norm_layer("none")(4)
    x = torch.randn(2, 4, 3, 3)
    assert isinstance(identity, networks.Identity) and identity(x) is x
    assert networks.define_D(3, 4, "pixel", norm="syncbatch").net[2].bias is None
    assert networks.define_D(3, 4, "pixel", norm="none").net[2].bias is None
    assert networks.define_D(3, 4, "pixel", norm="instance").net[2].bias is not None


@pytest.mark.parametrize("call, flag, valid", [
    (lambda: networks.get_norm_layer("sync_batch"), "--norm", "instance"),
    (lambda: networks.define_G(3, 3, 8, "resnet_0blocks"), "--netG", "unet_128"),
    (lambda: networks.define_D(3, 8, "patch"), "--netD", "pixel"),
    (lambda: networks.GANLoss("hinge"), "--gan_mode", "wgangp"),
    (lambda: networks.init_weights(nn.Conv2d(1, 1, 1), "uniform"), "--init_type", "orthogonal"),
])
def test_unknown_values_name_the_flag_and_the_choices(call, flag: str, valid: str) -> None:
    with pytest.raises(UserError) as caught:
        call()
    assert flag in str(caught.value) and valid in str(caught.value)


# --------------------------------------------------------------------------- initialisation


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_types(init_type: str, caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    with caplog.at_level(logging.INFO, logger="models.networks"):
        net = networks.define_D(3, 16, "basic", norm="batch", init_type=init_type, init_gain=0.02)
    assert f"initialize network with {init_type}" in caplog.text
    conv = net.model[2].weight.detach()
    if init_type == "normal":
        assert abs(conv.std().item() - 0.02) < 0.002
    elif init_type == "kaiming":
        assert abs(conv.std().item() - math.sqrt(2.0 / (16 * 16))) < 0.01
    elif init_type == "orthogonal":
        rows = conv.flatten(1)
        assert torch.allclose(rows @ rows.T, torch.eye(rows.shape[0]) * 0.02 ** 2, atol=1e-6)
    else:
        fan_in, fan_out = 16 * 16, 32 * 16
        assert abs(conv.std().item() - 0.02 * math.sqrt(2.0 / (fan_in + fan_out))) < 1e-4
    assert torch.all(net.model[0].bias == 0)
    norm = net.model[3]
    assert torch.all(norm.bias == 0) and abs(norm.weight.mean().item() - 1.0) < 0.01
    assert 0.01 < norm.weight.std().item() < 0.03


def test_sync_batch_norm_is_initialised_like_batch_norm() -> None:
    torch.manual_seed(0)
    net = networks.define_D(3, 64, "pixel", norm="syncbatch")
    norm = net.net[3]
    assert isinstance(norm, networks.SyncBatchNorm)
    assert not torch.all(norm.weight == 1) and 0.01 < norm.weight.std().item() < 0.03


def test_init_net_device_handling() -> None:
    net = nn.Conv2d(1, 1, 1)
    if torch.cuda.is_available():
        assert networks.init_net(net, gpu_ids=[0]).weight.device.type == "cuda"
    else:
        with pytest.raises(UserError, match="--gpu_ids"):
            networks.init_net(net, gpu_ids=[0])
    assert networks.init_net(nn.Conv2d(1, 1, 1)).weight.device.type == "cpu"


# --------------------------------------------------------------------------- checkpoint loading


def test_mismatch_dropout_checkpoint_into_network_without_dropout() -> None:
    state_dict = small_G(dropout=True).state_dict()
    message = mismatch_message(small_G(dropout=False), state_dict, {"netG": "resnet_9blocks", "no_dropout": True})
    assert "--no_dropout" in message and "leave out" in message


def test_mismatch_checkpoint_without_dropout_into_dropout_network() -> None:
    state_dict = load_checkpoint_file(need(LEGACY_G))
    message = mismatch_message(small_G(dropout=True), state_dict, {"no_dropout": False})
    assert "add --no_dropout" in message


def test_mismatch_ngf() -> None:
    state_dict = load_checkpoint_file(need(LEGACY_G))
    message = mismatch_message(small_G(ngf=16), state_dict, {"netG": "resnet_9blocks", "ngf": 16})
    assert "--ngf 8, but --ngf is 16" in message
    assert "--norm" not in message and "--netG" not in message


def test_mismatch_norm() -> None:
    state_dict = small_G(norm="batch").state_dict()
    message = mismatch_message(small_G(norm="instance"), state_dict, {"norm": "instance"})
    assert re.search(r"--norm batch \(it has BatchNorm keys\), but --norm is instance", message)
    message = mismatch_message(small_G(norm="none"), small_G(norm="instance").state_dict(), {"norm": "none"})
    assert re.search(r"--norm instance \(.*\), but --norm is none", message)


def test_mismatch_netG_block_count_and_family() -> None:
    six = small_G("resnet_6blocks").state_dict()
    message = mismatch_message(small_G("resnet_9blocks"), six, {"netG": "resnet_9blocks"})
    assert "--netG resnet_6blocks, but --netG is resnet_9blocks" in message
    unet = small_G("unet_256", "batch").state_dict()
    message = mismatch_message(small_G("resnet_9blocks", "batch"), unet, {"netG": "resnet_9blocks"})
    assert "--netG unet_256" in message


def test_mismatch_channels_and_discriminators() -> None:
    message = mismatch_message(small_G(input_nc=1), small_G().state_dict(), {})
    assert "--input_nc/--output_nc" in message
    pix2pix_D = networks.define_D(6, 8, "basic", norm="batch").state_dict()
    message = mismatch_message(networks.define_D(3, 16, "basic", norm="batch"), pix2pix_D, {"ndf": 16})
    assert "--ndf 8, but --ndf is 16" in message and "6 input channels" in message
    message = mismatch_message(networks.define_D(6, 8, "n_layers", 5, norm="batch"), pix2pix_D,
                               {"netD": "n_layers", "n_layers_D": 5})
    assert "--netD basic" in message and "--n_layers_D 5" in message
    message = mismatch_message(networks.define_D(3, 8, "basic"), small_G().state_dict(), {})
    assert "wrong file" in message


def test_load_repairs_prefixes_and_missing_num_batches_tracked() -> None:
    source = small_G("unet_128", "batch")
    with torch.no_grad():
        for p in source.parameters():
            p.add_(1.0)
    saved = checkpoint.state_dict_for_saving(source)
    wrapped = {f"module._orig_mod.{k}": v for k, v in saved.items() if not k.endswith("num_batches_tracked")}
    target = small_G("unet_128", "batch")
    expected_counter = torch.tensor(7)
    for m in target.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.num_batches_tracked.fill_(7)
    checkpoint.load_network_weights(target, wrapped, "old.pth")
    for key, value in target.state_dict().items():
        if key.endswith("num_batches_tracked"):
            assert torch.equal(value, expected_counter), key
        else:
            assert torch.equal(value, saved[key]), key


@pytest.mark.slow
def test_state_dict_for_saving_unwraps_and_copies_to_cpu(tmp_path: Path) -> None:
    net = small_G("resnet_6blocks", "batch", ngf=4)
    for wrapped in (nn.DataParallel(net), torch.compile(net)):
        saved = checkpoint.state_dict_for_saving(wrapped)
        assert list(saved) == list(net.state_dict())
        assert all(v.device.type == "cpu" for v in saved.values())
    saved["model.1.weight"].zero_()
    assert not torch.all(net.model[1].weight == 0)

    saved = checkpoint.state_dict_for_saving(net)
    path = tmp_path / "latest_net_G.pth"
    torch.save(saved, path)
    fresh = small_G("resnet_6blocks", "batch", ngf=4)
    checkpoint.load_network_weights(fresh, load_checkpoint_file(path), str(path))
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), net.eval()(x))


def test_unreadable_checkpoint_files_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing_net_G.pth"
    with pytest.raises(UserError, match=re.escape(str(missing))):
        load_checkpoint_file(missing)

    good = tmp_path / "good.pth"
    torch.save(small_G(ngf=4).state_dict(), good)
    truncated = tmp_path / "latest_net_G.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UserError, match=re.escape(str(truncated))):
        load_checkpoint_file(truncated)

    not_state_dict = tmp_path / "options.pth"
    torch.save({"epoch": 3, "lr": 0.1}, not_state_dict)
    with pytest.raises(UserError, match="not a network state_dict"):
        load_checkpoint_file(not_state_dict)

    pickled_object = tmp_path / "object.pth"
    torch.save(argparse.Namespace(lr=0.1), pickled_object)
    with pytest.raises(UserError, match=re.escape(str(pickled_object))):
        load_checkpoint_file(pickled_object)


# --------------------------------------------------------------------------- losses


def test_gan_losses_on_known_values() -> None:
    pred = torch.tensor([[0.5, 2.0]])
    lsgan = networks.GANLoss("lsgan")
    assert lsgan(pred, True).item() == pytest.approx(0.625)
    assert lsgan(pred, False).item() == pytest.approx(2.125)
    vanilla = networks.GANLoss("vanilla")
    logit = torch.tensor([2.0])
    assert vanilla(logit, True).item() == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)
    assert vanilla(logit, False).item() == pytest.approx(math.log1p(math.exp(2.0)), rel=1e-6)
    assert vanilla(torch.zeros(3, 1, 2, 2), True).item() == pytest.approx(math.log(2.0), rel=1e-6)
    wgan = networks.GANLoss("wgangp")
    assert wgan(torch.tensor([1.0, 3.0]), True).item() == pytest.approx(-2.0)
    assert wgan(torch.tensor([1.0, 3.0]), False).item() == pytest.approx(2.0)
    smoothed = networks.GANLoss("lsgan", target_real_label=0.9, target_fake_label=0.1)
    assert smoothed(torch.full((2, 1, 3, 3), 0.9), True).item() == pytest.approx(0.0, abs=1e-7)
    assert smoothed(torch.full((2, 1, 3, 3), 0.9), False).item() == pytest.approx(0.64)
    assert dict(lsgan.named_buffers()).keys() == {"real_label", "fake_label"}


class LinearCritic(nn.Module):
    """D(x) = <w, x> per sample, whose input gradient is w everywhere."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight).flatten(1).sum(1)


@pytest.mark.parametrize("kind", ["real", "fake", "mixed"])
def test_gradient_penalty_matches_the_formula(kind: str) -> None:
    weight = torch.full((1, 2, 2), 0.25)
    weight[0, 0, 0] = 2.0
    critic = LinearCritic(weight)
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    penalty, gradients = networks.cal_gradient_penalty(critic, real, fake, "cpu", type=kind, constant=1.0,
                                                       lambda_gp=10.0)
    norm = weight.norm().item()
    assert gradients.shape == (4, 4)
    assert penalty.item() == pytest.approx(10.0 * (norm - 1.0) ** 2, rel=1e-5)
    assert not real.requires_grad and not fake.requires_grad


def test_gradient_penalty_is_positive_and_differentiable_for_a_patch_discriminator() -> None:
    torch.manual_seed(0)
    netD = networks.define_D(3, 4, "basic", norm="instance")
    real, fake = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    penalty, gradients = networks.cal_gradient_penalty(netD, real, fake, torch.device("cpu"))
    assert penalty.item() > 0 and gradients.shape == (2, 3 * 32 * 32)
    penalty.backward()
    weights = [m.weight for m in netD.modules() if isinstance(m, nn.Conv2d)]
    assert all(w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0 for w in weights)
    assert networks.cal_gradient_penalty(netD, real, fake, "cpu", lambda_gp=0.0) == (0.0, None)


# --------------------------------------------------------------------------- learning-rate policies


def lr_options(**overrides: object) -> argparse.Namespace:
    values = dict(lr_policy="linear", epoch_count=1, n_epochs=3, n_epochs_decay=3, lr_decay_iters=2)
    values.update(overrides)
    return argparse.Namespace(**values)


def multipliers_per_epoch(opt: argparse.Namespace, metric: float = 0.0) -> List[float]:
    """The LR each epoch trains with, when the scheduler steps at the end of the epoch (after optimizer.step)."""
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1.0)
    scheduler = networks.get_scheduler(optimizer, opt)
    used = []
    for _ in range(opt.epoch_count, opt.n_epochs + opt.n_epochs_decay + 1):
        used.append(optimizer.param_groups[0]["lr"])
        param.grad = torch.ones(1)
        optimizer.step()
        if opt.lr_policy == "plateau":
            scheduler.step(metric)
        else:
            scheduler.step()
    return used


def test_linear_policy_decays_after_n_epochs_and_never_reaches_zero() -> None:
    assert multipliers_per_epoch(lr_options()) == pytest.approx([1, 1, 1, 0.75, 0.5, 0.25])
    assert multipliers_per_epoch(lr_options(epoch_count=3)) == pytest.approx([1, 0.75, 0.5, 0.25])


def test_step_plateau_and_cosine_policies() -> None:
    step = multipliers_per_epoch(lr_options(lr_policy="step", n_epochs=3, n_epochs_decay=2))
    assert step == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    flat = multipliers_per_epoch(lr_options(lr_policy="plateau", n_epochs=4, n_epochs_decay=4))
    assert flat == pytest.approx([1] * 7 + [0.2])
    cosine = multipliers_per_epoch(lr_options(lr_policy="cosine", n_epochs=2, n_epochs_decay=2))
    assert cosine == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])
    assert all(a > b > 0 for a, b in zip(cosine, cosine[1:]))


def test_unknown_lr_policy_raises() -> None:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(UserError, match="--lr_policy.*linear"):
        networks.get_scheduler(optimizer, lr_options(lr_policy="exponential"))


def test_no_scheduler_order_warning_when_stepping_after_the_optimizer() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        multipliers_per_epoch(lr_options())
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)]

    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1.0)
    scheduler = networks.get_scheduler(optimizer, lr_options())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scheduler.step()  # the reference's classic order: before any optimizer.step()
    assert [w for w in caught if "lr_scheduler.step()" in str(w.message)]
