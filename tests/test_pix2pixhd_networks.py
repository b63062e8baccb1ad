"""pix2pixHD networks against NVIDIA's fixtures: strict key loading and outputs; pooling; VGG weights file."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models import pix2pixhd_networks as hd
from models.checkpoint import CheckpointMismatchError, load_network_weights
from tests.conftest import SHARED, needs_fixture
from util.errors import UserError

NETWORKS = SHARED / "fixtures" / "pix2pixhd" / "networks"


@needs_fixture(NETWORKS)
@pytest.mark.parametrize("name", ["G_global", "G_local", "E_encoder", "D_multiscale_feat"])
def test_reference_network_loads_strictly_and_matches(name: str) -> None:
    fixture = torch.load(NETWORKS / f"{name}.pt", weights_only=True)
    args = {k: v for k, v in fixture["args"].items() if k != "gpu_ids"}
    net = (hd.define_D if fixture["kind"] == "D" else hd.define_G)(**args)
    assert list(net.state_dict()) == list(fixture["state_dict"])
    net.load_state_dict(fixture["state_dict"], strict=True)
    net.eval()
    with torch.no_grad():
        output = net(fixture["input"], fixture["inst"]) if fixture["kind"] == "E" else net(fixture["input"])
    if fixture["kind"] == "D":
        pairs = [(a, b) for got, want in zip(output, fixture["output"], strict=True)
                 for a, b in zip(got, want, strict=True)]
    else:
        pairs = [(output, fixture["output"])]
    for got, want in pairs:
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-4, rtol=1e-5)


def test_released_label2city_1024p_layout() -> None:
    """The released 1024p generator (local, ngf 32, 36 inputs): 74 tensors, ~182.9 M parameters, its key names."""
    net = hd.define_G(36, 3, 32, "local", n_downsample_global=4, n_blocks_global=9, n_local_enhancers=1,
                      n_blocks_local=3, norm="instance")
    sd = net.state_dict()
    assert len(sd) == 74
    assert abs(sum(p.numel() for p in net.parameters()) / 1e6 - 182.9) < 0.1
    assert sd["model.1.weight"].shape == (64, 36, 7, 7)
    assert sd["model.34.weight"].shape == (128, 64, 3, 3)
    assert sd["model1_1.1.weight"].shape == (32, 36, 7, 7)
    assert sd["model1_2.3.weight"].shape == (64, 32, 3, 3)
    assert sd["model1_2.7.weight"].shape == (3, 32, 7, 7)
    assert "model.38.weight" not in sd


def test_two_enhancers_and_plain_discriminator_keys() -> None:
    g = hd.define_G(5, 3, 4, "local", n_downsample_global=2, n_blocks_global=1, n_local_enhancers=2,
                    n_blocks_local=1)
    keys = set(g.state_dict())
    assert {"model1_1.1.weight", "model2_1.4.weight", "model2_2.5.weight"} <= keys
    assert not any(k.startswith("model1_2.5") for k in keys)  # only the outermost enhancer has output layers
    x = torch.randn(1, 5, 32, 48)
    assert g(x).shape == (1, 3, 32, 48)
    d = hd.define_D(6, 4, 3, num_D=3, getIntermFeat=False)
    assert {k.rsplit(".", 2)[0] for k in d.state_dict()} == {f"layer{i}" for i in range(3)}
    assert sorted({int(k.split(".")[1]) for k in d.state_dict() if k.startswith("layer0.")}) == [0, 2, 5, 8, 11]
    out = d(torch.randn(1, 6, 32, 32))
    assert [len(scale) for scale in out] == [1, 1, 1]


def test_instance_average_gives_one_value_per_instance_and_channel() -> None:
    torch.manual_seed(0)
    features = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    inst = torch.tensor([[0, 0, 1, 1, 1],
                         [0, 0, 1, 1, 1],
                         [2, 2, 2, 33000, 33000],
                         [2, 2, 2, 33000, 33000]], dtype=torch.int64).expand(2, 1, 4, 5).clone()
    inst[1, 0, 0, 0] = 7  # a region only sample 1 has
    pooled = hd.instance_average(features, inst)
    for b in range(2):
        for v in inst[b].unique():
            mask = inst[b, 0] == v
            for c in range(3):
                values = pooled[b, c][mask]
                assert torch.all(values == values[0])
                assert torch.allclose(values[0], features[b, c][mask].mean())
    pooled.sum().backward()
    assert torch.allclose(features.grad, torch.ones_like(features))  # each mean spreads back over its pixels


@pytest.mark.slow
def test_vgg_weights_from_a_local_torchvision_file(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(0)
    vgg = torchvision.models.vgg19(weights=None)
    path = tmp_path / hd.VGG19_FILE
    torch.save(vgg.state_dict(), path)
    features = hd.load_vgg19(str(path))
    x = torch.randn(1, 3, 32, 32)
    outputs = features(x)
    assert [o.shape[1] for o in outputs] == [64, 128, 256, 512, 512]
    with torch.no_grad():
        assert torch.equal(outputs[-1], vgg.features[:30](x))
    assert not any(p.requires_grad for p in features.parameters())
    loss = hd.VGGLoss(features)(x, x)
    assert float(loss) == 0.0


def test_missing_vgg_weights_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        hd.load_vgg19(str(tmp_path / "nothing.pth"))
    message = str(err.value)
    assert "\n" not in message
    assert "--vgg_weights" in message and hd.VGG19_URL in message and "--no_vgg_loss" in message
    bad = tmp_path / "bad.pth"
    torch.save({"classifier.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(UserError, match="not torchvision's vgg19"):
        hd.load_vgg19(str(bad))


def test_registered_in_the_architecture_table_and_named_back_from_keys() -> None:
    from models import architectures, networks

    assert {"global", "local", "encoder"} <= set(architectures.names(architectures.GENERATOR))
    assert "multiscale" in architectures.names(architectures.DISCRIMINATOR)
    g = networks.define_G(6, 3, 4, "local", norm="instance", n_downsample_global=1, n_blocks_global=1,
                          n_local_enhancers=2, n_blocks_local=1)
    assert architectures.describe(architectures.read_layout(g.state_dict())) == \
        "--netG local --n_local_enhancers 2 --n_blocks_local 1 --n_downsample_global 1 --n_blocks_global 1"
    d = networks.define_D(6, 4, "multiscale", 2, norm="instance", num_D=3)
    assert architectures.describe(architectures.read_layout(d.state_dict())) == \
        "--netD multiscale --n_layers_D 2 --num_D 3"
    flat = hd.define_D(6, 4, 4, num_D=2, getIntermFeat=False)
    assert architectures.describe(architectures.read_layout(flat.state_dict())) == \
        "--netD multiscale --n_layers_D 4 --num_D 2 --no_ganFeat_loss"
    e = hd.define_G(3, 3, 4, "encoder", 3)
    assert architectures.describe(architectures.read_layout(e.state_dict())) == \
        "--netG encoder --nef 4 --n_downsample_E 3"


def mismatch(net: torch.nn.Module, state_dict: dict, hints: dict) -> str:
    with pytest.raises(CheckpointMismatchError) as caught:
        load_network_weights(net, state_dict, "file.pth", hints)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_mismatch_messages_name_pix2pixhd_flags() -> None:
    """Each differing depth flag by name; a global generator with 2 downsamplings has a ResNet generator's keys, but
    loading one is read as what it is, not as --netG resnet_9blocks."""
    hints = {"netG": "global", "netD": "multiscale", "ngf": 4, "norm": "instance"}
    nine = hd.define_G(12, 3, 4, "global", n_downsample_global=2, n_blocks_global=9).state_dict()
    message = mismatch(hd.define_G(12, 3, 4, "global", 2, 6), nine, {**hints, "n_blocks_global": 6})
    assert "it looks like --n_blocks_global 9, but --n_blocks_global is 6" in message and "resnet" not in message
    message = mismatch(hd.define_G(12, 3, 4, "global", 4, 9), nine, {**hints, "n_downsample_global": 4})
    assert "it looks like --n_downsample_global 2, but --n_downsample_global is 4" in message
    message = mismatch(hd.define_G(13, 3, 4, "global", 2, 9), nine, hints)
    assert "it maps 12 to 3 channels, but the network maps 13 to 3 (check --label_nc, --no_instance" in message
    local = hd.define_G(12, 3, 4, "local", 2, 2, 1, 3).state_dict()
    message = mismatch(hd.define_G(12, 3, 4, "local", 2, 2, 1, 2), local, {**hints, "netG": "local"})
    assert "it looks like --n_blocks_local 3, but --n_blocks_local is 2" in message
    message = mismatch(hd.define_G(12, 3, 4, "global", 2, 2), local, hints)
    assert "it looks like --netG local --n_local_enhancers 1 --n_blocks_local 3" in message
    assert "but --netG is global" in message
    encoder = hd.define_G(3, 3, 4, "encoder", 2).state_dict()
    message = mismatch(hd.define_G(3, 3, 4, "encoder", 3), encoder, hints)  # E is loaded with G's hints
    assert "it looks like --n_downsample_E 2, but --n_downsample_E is 3" in message
    d2 = hd.define_D(15, 4, 3, num_D=2, getIntermFeat=True).state_dict()
    message = mismatch(hd.define_D(15, 4, 3, num_D=3, getIntermFeat=True), d2, {**hints, "num_D": 3})
    assert "it looks like --num_D 2, but --num_D is 3" in message
    message = mismatch(hd.define_D(15, 4, 4, num_D=2, getIntermFeat=True), d2, {**hints, "n_layers_D": 4})
    assert "it looks like --n_layers_D 3, but --n_layers_D is 4" in message
    message = mismatch(hd.define_D(15, 4, 3, num_D=2, getIntermFeat=False), d2, hints)
    assert "it was saved without --no_ganFeat_loss, but the network is built with it" in message
    message = mismatch(hd.define_D(16, 4, 3, num_D=2, getIntermFeat=True), d2, hints)
    assert "it takes 15 input channels, but the network takes 16 (check --label_nc, --no_instance" in message
