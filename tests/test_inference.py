"""Inference on user images: padding to the generator's multiple, tiles, the Translator API and test.py --model test."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from models import architectures, checkpoint, create_model, networks
from models.inference import GeneratorSpec, Translator, resolve_run_checkpoint
from models.tiling import crop_to, pad_to_multiple, translate_tensor, translate_tiled
from options.test_options import TestOptions
from tests.conftest import FIXTURES, TINY, TINY_TEST, make_unaligned, needs_fixture, run_script, write_image
from util.errors import UserError

LEGACY = FIXTURES / "legacy"
LEGACY_CKPT = LEGACY / "checkpoints" / "resnet_in" / "latest_net_G.pth"
needs_legacy = needs_fixture(LEGACY_CKPT)


def generator(netG: str, norm: str = "instance", init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    torch.manual_seed(0)
    return networks.define_G(3, 3, 8, netG, norm, False, init_type=init_type, init_gain=gain).eval()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CycleGAN trained for one epoch by train.py: checkpoints/r with G_A, G_B and train_opt.txt."""
    root = tmp_path_factory.mktemp("run")
    data = make_unaligned(root / "data", n=2)
    run_script("train.py", ["--dataroot", str(data), "--name", "r", "--checkpoints_dir", str(root / "ckpt"), *TINY,
                            "--n_epochs", "1", "--n_epochs_decay", "0"])
    return root / "ckpt"


# ---------------------------------------------------------------------------------------------- padding


def test_generator_multiple() -> None:
    names = ("resnet_9blocks", "resnet_6blocks", "unet_64", "unet_128", "unet_256")
    assert [architectures.generator(n).multiple for n in names] == [4, 4, 64, 128, 256]
    with pytest.raises(UserError, match="--netG 'unet_32'"):
        architectures.generator("unet_32")


def test_pad_to_multiple_reflects_or_replicates_and_crops_back() -> None:
    x = torch.rand(2, 3, 37, 53)
    padded, size = pad_to_multiple(x, 4)
    assert padded.shape == (2, 3, 40, 56) and size == (37, 53)
    assert torch.equal(padded[..., 37, :53], x[..., 35, :])  # reflect: row 37 mirrors row 35
    assert torch.equal(crop_to(padded, size), x)
    padded, size = pad_to_multiple(x, 128)  # padding larger than the image: replicate
    assert padded.shape == (2, 3, 128, 128)
    assert torch.equal(padded[..., 127, :53], x[..., 36, :]) and torch.equal(padded[..., :37, 127], x[..., 52])
    assert torch.equal(crop_to(padded, size), x)
    same, _ = pad_to_multiple(torch.rand(1, 3, 8, 12), 4)
    assert same.shape == (1, 3, 8, 12)


@pytest.mark.slow
@pytest.mark.parametrize("netG", ["resnet_6blocks", "unet_128"])
def test_odd_sized_image_keeps_its_size(netG: str) -> None:
    net = generator(netG)
    out = translate_tensor(net, torch.rand(1, 3, 37, 53) * 2 - 1, architectures.generator(netG).multiple)
    assert out.shape == (1, 3, 37, 53)
    translator = Translator(net, GeneratorSpec(netG=netG, ngf=8))
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (37, 53, 3), dtype=np.uint8))
    result = translator(image)
    assert isinstance(result, Image.Image) and result.size == (53, 37) and result.mode == "RGB"


# ---------------------------------------------------------------------------------------------- tiles


def test_tiles_equal_whole_image_for_a_local_network() -> None:
    """A network that sees 2 px around each pixel: the blend must reproduce the whole-image result exactly."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1), nn.Tanh()).eval()
    x = torch.rand(2, 3, 70, 101) * 2 - 1
    with torch.no_grad():
        whole = translate_tensor(net, x, 4)
        tiled = translate_tiled(net, x, tile=32, overlap=16, multiple=4)
    assert tiled.shape == whole.shape == (2, 3, 70, 101)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_tiles_close_to_whole_image_for_batch_norm_generator() -> None:
    """Eval-mode batch norm has no global statistics: only the receptive field at tile edges differs, and the
    blend's ~0 outer margin hides it once the overlap is large."""
    net = generator("resnet_6blocks", "batch", "xavier", gain=1.0)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    x = torch.rand(1, 3, 128, 200, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        whole = translate_tensor(net, x, 4)
        small_overlap = (translate_tiled(net, x, 128, 32, 4) - whole).abs()
        large_overlap = (translate_tiled(net, x, 128, 96, 4) - whole).abs()
    assert whole.std() > 0.1  # the output has structure, so the comparison means something
    assert large_overlap.max() < 0.03 and large_overlap.mean() < 1e-3
    assert large_overlap.mean() < small_overlap.mean() / 5


@needs_legacy
def test_tiles_close_to_whole_image_with_instance_norm() -> None:
    """Instance norm normalises each tile on its own statistics, so tiles only come close (a few levels)."""
    translator = Translator.from_checkpoint(LEGACY_CKPT)
    image = Image.open(LEGACY / "images" / "img0.png").convert("RGB")
    whole, tiled = pixels(translator(image)), pixels(translator(image, tile=96, overlap=64))
    assert tiled.shape == whole.shape == (128, 128, 3)
    assert np.abs(tiled - whole).mean() < 6 and np.abs(tiled - whole).max() < 40


def test_bad_tile_settings_name_the_flag() -> None:
    translator = Translator(generator("unet_128"), GeneratorSpec(netG="unet_128", ngf=8))
    with pytest.raises(UserError, match="--tile_size 64 is smaller than 128"):
        translator(torch.zeros(3, 128, 128), tile=64)
    with pytest.raises(UserError, match="--tile_overlap"):
        translator(torch.zeros(3, 128, 128), tile=128, overlap=-1)


# ---------------------------------------------------------------------------------------------- Translator


def test_translator_tensor_layouts_and_channel_check() -> None:
    net = generator("resnet_6blocks")
    translator = Translator(net, GeneratorSpec(netG="resnet_6blocks", ngf=8))
    net.train()  # the translator must put it back in eval mode
    x = torch.rand(2, 3, 36, 44) * 2 - 1
    batch = translator(x)
    single = translator(x[1])
    assert batch.shape == x.shape and single.shape == x[1].shape and not batch.requires_grad
    torch.testing.assert_close(single, batch[1], atol=1e-5, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(batch, net.eval()(x), atol=1e-5, rtol=0)
    with pytest.raises(UserError, match="3-channel"):
        translator(torch.zeros(1, 1, 32, 32))


@pytest.mark.slow
def test_translator_from_run(trained_run: Path) -> None:
    translator = Translator.from_run("r", checkpoints_dir=trained_run)  # no net given: G_A of a CycleGAN
    assert (translator.spec.netG, translator.spec.ngf, translator.spec.no_dropout) == ("resnet_9blocks", 8, True)
    reference = networks.define_G(3, 3, 8, "resnet_9blocks", "instance", False).eval()
    reference.load_state_dict(torch.load(trained_run / "r" / "latest_net_G_A.pth", weights_only=True))
    x = torch.rand(1, 3, 40, 48) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(translator(x), reference(x), atol=1e-5, rtol=0)
    image = write_image(trained_run.parent / "odd.png", size=(53, 37), seed=3)
    assert translator(Image.open(image)).size == (53, 37)
    other = Translator.from_run(trained_run / "r", net="G_B")  # a run folder path works too
    assert not torch.allclose(other(x), translator(x))
    with pytest.raises(checkpoint.CheckpointMismatchError, match="--ngf 8"):
        Translator.from_run("r", checkpoints_dir=trained_run, ngf=16)
    with pytest.raises(UserError, match="latest_net_G_A.pth, latest_net_G_B.pth"):
        resolve_run_checkpoint(trained_run / "r", "latest", "G")
    with pytest.raises(UserError, match="run folder .* not found"):
        Translator.from_run("missing", checkpoints_dir=trained_run)


@pytest.mark.slow
@needs_legacy
def test_translator_matches_reference_on_legacy_checkpoint() -> None:
    """The reference ran test.py --load_size 256 on this checkpoint: resize to 256 (bicubic), translate."""
    expected = pixels(Image.open(LEGACY / "expected" / "resnet_in" / "test_latest" / "images" / "img0_fake.png"))
    image = Image.open(LEGACY / "images" / "img0.png").convert("RGB").resize((256, 256), Image.BICUBIC)
    translator = Translator.from_run("resnet_in", checkpoints_dir=LEGACY / "checkpoints")  # no train_opt.txt
    assert translator.spec == GeneratorSpec(netG="resnet_9blocks", ngf=8, norm="instance", no_dropout=True)
    assert np.abs(pixels(translator(image)) - expected).max() <= 1
    explicit = Translator.from_checkpoint(LEGACY_CKPT, netG="resnet_9blocks", ngf=8, norm="instance",
                                          no_dropout=True)
    assert np.array_equal(pixels(explicit(image)), pixels(translator(image)))


# ---------------------------------------------------------------------------------------------- test.py


def test_test_py_keeps_the_exact_size_of_an_odd_image(trained_run: Path, tmp_path: Path) -> None:
    image = write_image(tmp_path / "odd.png", size=(53, 37), seed=3)
    results = tmp_path / "results"
    run_script("test.py", ["--dataroot", str(image), "--checkpoints_dir", str(trained_run), "--name", "r",
                           "--model", "test", "--model_suffix", "_A", "--results_dir", str(results), "--keep_size",
                           *TINY_TEST])
    images = results / "r" / "test_latest" / "images"
    fake, real = Image.open(images / "odd_fake.png"), Image.open(images / "odd_real.png")
    assert fake.size == real.size == (53, 37)
    expected = Translator.from_run("r", checkpoints_dir=trained_run, net="G_A")(Image.open(image))
    assert np.abs(pixels(fake) - pixels(expected)).max() <= 1


def test_test_py_folder_in_batches_of_two_with_tiles(trained_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    for i in range(3):
        write_image(folder / f"p{i}.png", size=(48, 40), seed=10 + i)
    results = tmp_path / "results"
    run_script("test.py", ["--dataroot", str(folder), "--checkpoints_dir", str(trained_run), "--name", "r",
                           "--model", "test", "--model_suffix", "_A", "--results_dir", str(results),
                           "--preprocess", "none", "--batch_size", "2", "--tile_size", "32", "--tile_overlap", "16",
                           *TINY_TEST])
    images = results / "r" / "test_latest" / "images"
    translator = Translator.from_run("r", checkpoints_dir=trained_run, net="G_A")
    for i in range(3):
        fake = Image.open(images / f"p{i}_fake.png")
        assert fake.size == (48, 40)
        expected = translator(Image.open(folder / f"p{i}.png"), tile=32, overlap=16)
        assert np.abs(pixels(fake) - pixels(expected)).max() <= 1


def test_keep_size_implies_preprocess_none(trained_run: Path, tmp_path: Path) -> None:
    base = ["--dataroot", str(write_image(tmp_path / "a.png")), "--checkpoints_dir", str(trained_run), "--name", "r",
            "--model", "test", "--model_suffix", "_A", "--results_dir", str(tmp_path), *TINY_TEST]
    opt = TestOptions().parse(base + ["--keep_size"], save=False)
    assert opt.keep_size and opt.preprocess == "none"
    assert TestOptions().parse(base, save=False).preprocess == "resize_and_crop"
    conflicting = TestOptions().parse(base + ["--keep_size", "--preprocess", "crop"], save=False)
    with pytest.raises(UserError, match="--keep_size .* needs --preprocess none"):
        create_model(conflicting)
