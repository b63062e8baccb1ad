"""The data pipeline on tiny real image files: dataset modes, pre-processing, ordering, seeding, bad input,
and the toy dataset generator."""
from __future__ import annotations

import argparse
import importlib
import logging
import pickle
import random
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image

import data
from data import base_dataset
from data.base_dataset import (ImageTooSmallError, ScaleWidth, check_size_options, get_params, get_transform,
                               output_size, pre_crop_size)
from data.image_folder import IMG_EXTENSIONS, is_image_file, load_image, make_dataset
from tests.conftest import make_aligned, make_unaligned, run_script, write_image
from util.cli import user_error_line
from util.errors import ImageReadError, UserError


def make_opt(dataroot: Path, **overrides: Any) -> argparse.Namespace:
    """The options a dataset reads, as train.py would set them, on tiny sizes."""
    values: Dict[str, Any] = dict(
        dataroot=str(dataroot), phase="train", dataset_mode="unaligned", max_dataset_size=float("inf"),
        direction="AtoB", input_nc=3, output_nc=3, preprocess="resize_and_crop", load_size=36, crop_size=32,
        no_flip=False, serial_batches=False, batch_size=1, num_threads=0, isTrain=True, device=torch.device("cpu"))
    values.update(overrides)
    return argparse.Namespace(**values)


def dataset_of(dataroot: Path, **overrides: Any) -> Any:
    opt = make_opt(dataroot, **overrides)
    return data.find_dataset_using_name(opt.dataset_mode)(opt)


def solid(path: Path, size, colors) -> Path:
    """An image made of vertical bands of the given colours (equal widths, left to right)."""
    w, h = size
    img = Image.new("RGB", size)
    band = w // len(colors)
    for i, c in enumerate(colors):
        img.paste(Image.new("RGB", (w - i * band if i == len(colors) - 1 else band, h), c), (i * band, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def in_range(t: torch.Tensor) -> bool:
    return bool(t.min() >= -1.0 and t.max() <= 1.0)


# ---------------------------------------------------------------- discovery of modes

def test_find_dataset_using_name_and_option_setters() -> None:
    assert data.available_dataset_modes() == ["aligned", "colorization", "pix2pixhd", "single", "template",
                                             "unaligned"]
    for mode in data.available_dataset_modes():
        cls = data.find_dataset_using_name(mode)
        assert cls.__name__.lower() == mode.replace("_", "") + "dataset"
    parser = data.get_option_setter("colorization")(argparse.ArgumentParser(), True)
    assert (parser.get_default("input_nc"), parser.get_default("output_nc"), parser.get_default("direction")) == \
        (1, 2, "AtoB")
    opt = data.get_option_setter("template")(_parser_with_max(), True).parse_args([])
    assert opt.new_dataset_option == 2.0 and opt.max_dataset_size == 10
    assert data.get_option_setter("template")(_parser_with_max(), True).parse_args(
        ["--new_dataset_option", "3"]).new_dataset_option == 3.0


def _parser_with_max() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_dataset_size", type=int, default=float("inf"))
    return parser


def test_unknown_dataset_mode_is_a_user_error_listing_the_modes() -> None:
    with pytest.raises(UserError) as err:
        data.find_dataset_using_name("alligned")
    assert "--dataset_mode" in str(err.value) and "'alligned'" in str(err.value)
    assert "aligned, colorization, pix2pixhd, single, template, unaligned" in str(err.value)


# ---------------------------------------------------------------- each mode's samples

def test_unaligned_samples_keys_shapes_ranges_and_length(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=3)
    for i in range(3, 5):
        write_image(root / "trainB" / f"b{i}.png", seed=200 + i)
    ds = dataset_of(root)
    assert len(ds) == 5  # max(|A|, |B|)
    sample = ds[4]
    assert set(sample) == {"A", "B", "A_paths", "B_paths"}
    assert sample["A"].shape == sample["B"].shape == (3, 32, 32)
    assert in_range(sample["A"]) and in_range(sample["B"]) and sample["A"].min() < 0 < sample["A"].max()
    assert sample["A_paths"] == str(root / "trainA" / "a1.png")  # index 4 wraps round |A| = 3
    assert Path(sample["B_paths"]).parent == root / "trainB"


def test_unaligned_serial_batches_pairs_by_index_and_random_pairing_repeats_with_the_seed(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=3)
    for i in range(3, 5):
        write_image(root / "trainB" / f"b{i}.png", seed=200 + i)
    ds = dataset_of(root, serial_batches=True)
    names = [(Path(ds[i]["A_paths"]).name, Path(ds[i]["B_paths"]).name) for i in range(5)]
    assert names == [("a0.png", "b0.png"), ("a1.png", "b1.png"), ("a2.png", "b2.png"), ("a0.png", "b3.png"),
                     ("a1.png", "b4.png")]

    ds = dataset_of(root, preprocess="none", no_flip=True)

    def partners(seed: int) -> List[str]:
        random.seed(seed)
        return [Path(ds[0]["B_paths"]).name for _ in range(12)]

    assert partners(1) == partners(1)
    assert len(set(partners(1))) > 1 and partners(1) != partners(2)


def test_aligned_halves_go_to_A_and_B_with_the_same_crop_and_flip(tmp_path: Path) -> None:
    red, blue = (255, 0, 0), (0, 0, 255)
    solid(tmp_path / "ab" / "train" / "0.png", (80, 40), [red, blue])
    sample = dataset_of(tmp_path / "ab", dataset_mode="aligned", preprocess="none", no_flip=True)[0]
    assert set(sample) == {"A", "B", "A_paths", "B_paths"}
    assert sample["A_paths"] == sample["B_paths"] == str(tmp_path / "ab" / "train" / "0.png")
    assert sample["A"].shape == sample["B"].shape == (3, 40, 40)
    assert torch.allclose(sample["A"].mean(dim=(1, 2)), torch.tensor([1.0, -1.0, -1.0]))
    assert torch.allclose(sample["B"].mean(dim=(1, 2)), torch.tensor([-1.0, -1.0, 1.0]))

    # identical halves stay identical under random crops and flips: both halves share the parameters
    half = Image.open(write_image(tmp_path / "half.png", (40, 40), seed=3))
    ab = Image.new("RGB", (80, 40))
    ab.paste(half, (0, 0))
    ab.paste(half, (40, 0))
    (tmp_path / "same" / "train").mkdir(parents=True)
    ab.save(tmp_path / "same" / "train" / "0.png")
    ds = dataset_of(tmp_path / "same", dataset_mode="aligned", load_size=40, crop_size=24)
    random.seed(0)
    samples = [ds[0] for _ in range(8)]
    assert all(torch.equal(s["A"], s["B"]) for s in samples)
    assert len({s["A"].sum().item() for s in samples}) > 1  # the crops did vary


def test_aligned_direction_decides_which_half_is_gray_and_odd_widths_give_equal_halves(tmp_path: Path) -> None:
    solid(tmp_path / "ab" / "train" / "0.png", (81, 40), [(255, 0, 0), (0, 0, 255)])
    kwargs = dict(dataset_mode="aligned", preprocess="none", no_flip=True, input_nc=1, output_nc=3)
    atob = dataset_of(tmp_path / "ab", **kwargs)[0]
    assert atob["A"].shape == (1, 40, 40) and atob["B"].shape == (3, 40, 40)
    btoa = dataset_of(tmp_path / "ab", direction="BtoA", **kwargs)[0]
    assert btoa["A"].shape == (3, 40, 40) and btoa["B"].shape == (1, 40, 40)
    assert torch.allclose(btoa["A"].mean(dim=(1, 2)), torch.tensor([1.0, -1.0, -1.0]))  # A stays the left half


def test_size_check_crop_fits_and_network_sides_are_multiples() -> None:
    def opt(**changes: Any) -> argparse.Namespace:
        return argparse.Namespace(**{"preprocess": "resize_and_crop", "load_size": 36, "crop_size": 32,
                                     "netG": "unet_128", **changes})

    with pytest.raises(UserError, match=r"--crop_size 40 is larger than --load_size 36"):
        check_size_options(opt(crop_size=40))
    check_size_options(opt(preprocess="crop", load_size=8))  # crop only: load_size plays no part
    with pytest.raises(UserError, match=r"^--crop_size 32: --netG unet_128 needs inputs whose sides are multiples "
                                        r"of 128; use --crop_size 128$"):
        check_size_options(opt(), 128)
    # no crop: the width scale_width gives (load_size, rounded to 4) is what reaches the network
    with pytest.raises(UserError, match=r"^--load_size 100: with --preprocess scale_width images are 100 px wide, "
                                        r"but --netG unet_128 needs .* use --load_size 128$"):
        check_size_options(opt(preprocess="scale_width", load_size=100), 128)
    check_size_options(opt(preprocess="scale_width", load_size=128), 128)
    check_size_options(opt(preprocess="scale_width", load_size=101), 4)  # rounded to 100 before the network
    check_size_options(opt(preprocess="none"), 128)  # every side depends on the image


def test_single_reads_dataroot_itself_or_one_image_file(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=2)
    ds = dataset_of(root / "testA", dataset_mode="single")
    sample = ds[1]
    assert set(sample) == {"A", "A_paths"} and sample["A"].shape == (3, 32, 32) and in_range(sample["A"])
    assert sample["A_paths"] == str(root / "testA" / "a1.png")

    one = dataset_of(root / "testA" / "a0.png", dataset_mode="single", input_nc=1)
    assert len(one) == 1 and one[0]["A_paths"] == str(root / "testA" / "a0.png") and one[0]["A"].shape == (1, 32, 32)
    # only A is read: a colorization generator (1 -> 2 channels) can be tested on a plain folder
    assert dataset_of(root / "testA", dataset_mode="single", input_nc=1, output_nc=2)[0]["A"].shape == (1, 32, 32)
    with pytest.raises(UserError, match="--output_nc 2"):
        dataset_of(root / "testA", dataset_mode="single", input_nc=1, output_nc=2, direction="BtoA")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="not an image"):
        dataset_of(tmp_path / "notes.txt", dataset_mode="single")


def test_unaligned_grayscale_follows_input_and_output_nc(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=1)
    sample = dataset_of(root, input_nc=1)[0]
    assert sample["A"].shape == (1, 32, 32) and sample["B"].shape == (3, 32, 32) and in_range(sample["A"])
    sample = dataset_of(root, input_nc=1, direction="BtoA")[0]
    assert sample["A"].shape == (3, 32, 32) and sample["B"].shape == (1, 32, 32)
    with pytest.raises(UserError, match="--output_nc 2"):
        dataset_of(root, output_nc=2)


def test_colorization_gives_L_and_clipped_ab(tmp_path: Path) -> None:
    solid(tmp_path / "c" / "train" / "0.png", (64, 32), [(255, 255, 255), (128, 128, 128), (0, 0, 255)])
    ds = dataset_of(tmp_path / "c", dataset_mode="colorization", input_nc=1, output_nc=2, preprocess="none",
                    no_flip=True)
    sample = ds[0]
    assert set(sample) == {"A", "B", "A_paths", "B_paths"} and sample["A_paths"] == sample["B_paths"]
    A, B = sample["A"], sample["B"]
    assert A.shape == (1, 32, 64) and B.shape == (2, 32, 64) and in_range(A) and in_range(B)
    assert A[0, :, :10].mean().item() == pytest.approx(1.0, abs=1e-3)          # white: L = 100
    assert B[:, :, 25:35].abs().max().item() < 1e-2                           # gray: no colour
    assert A[0, :, 25:35].mean().item() == pytest.approx(53.59 / 50 - 1, abs=1e-2)
    assert B[1, :, 50:].mean().item() == pytest.approx(-107.86 / 110, abs=1e-2)  # blue: b is strongly negative
    with pytest.raises(UserError, match="--input_nc must be 1"):
        dataset_of(tmp_path / "c", dataset_mode="colorization", input_nc=3, output_nc=2)
    with pytest.raises(UserError, match="--direction must be AtoB"):
        dataset_of(tmp_path / "c", dataset_mode="colorization", input_nc=1, output_nc=2, direction="BtoA")


def test_template_gives_the_image_as_A_and_B(tmp_path: Path) -> None:
    root = make_aligned(tmp_path / "ab", n=2)
    ds = dataset_of(root, dataset_mode="template", max_dataset_size=1)
    assert len(ds) == 1
    sample = ds[0]
    assert set(sample) == {"A", "B", "A_paths", "B_paths"} and torch.equal(sample["A"], sample["B"])
    assert sample["A"].shape == (3, 32, 32) and sample["A_paths"] == str(root / "train" / "0.png")
    assert dataset_of(root, dataset_mode="template", input_nc=1)[0]["A"].shape == (1, 32, 32)


# ---------------------------------------------------------------- pre-processing

@pytest.mark.parametrize("preprocess, expected", [
    ("resize_and_crop", (30, 30)),
    ("crop", (30, 30)),
    ("scale_width", (44, 32)),           # 45x32 after scaling, then rounded to multiples of 4
    ("scale_width_and_crop", (30, 30)),
    ("scale_shortside", (64, 44)),       # 62x45 after scaling (shorter side 37 -> 45), then rounded
    ("scale_shortside_and_crop", (30, 30)),
    ("none", (52, 36)),                  # 51x37 rounded to multiples of 4
])
def test_preprocess_modes_give_the_expected_sizes(tmp_path: Path, preprocess: str, expected) -> None:
    opt = make_opt(tmp_path, preprocess=preprocess, load_size=45, crop_size=30)
    img = Image.open(write_image(tmp_path / "x.png", (51, 37)))
    for params in (None, get_params(opt, img.size)):
        tensor = get_transform(opt, params)(img)
        assert tuple(tensor.shape) == (3, expected[1], expected[0])
    assert output_size(opt, (51, 37)) == expected


def test_size_rounding_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base_dataset._SIZE_NOTICE_GIVEN.clear()
    transform = get_transform(make_opt(tmp_path, preprocess="none"))
    with caplog.at_level(logging.WARNING, logger="data.base_dataset"):
        for size in ((51, 37), (41, 29), (40, 40)):
            transform(Image.new("RGB", size))
    notices = [r for r in caplog.records if "multiple of 4" in r.getMessage()]
    assert len(notices) == 1 and "(51, 37)" in notices[0].getMessage() and "(52, 36)" in notices[0].getMessage()


def test_scale_width_and_crop_params_use_the_height_floor(tmp_path: Path) -> None:
    opt = make_opt(tmp_path, preprocess="scale_width_and_crop", load_size=40, crop_size=32)
    img = Image.new("RGB", (100, 20))
    scaled = ScaleWidth(40, 32, T.InterpolationMode.BICUBIC)(img)
    assert pre_crop_size(opt, img.size) == scaled.size == (40, 32)
    random.seed(0)
    positions = {get_params(opt, img.size)["crop_pos"] for _ in range(60)}
    assert {y for _, y in positions} == {0} and {x for x, _ in positions} == set(range(9))


def test_a_300x200_painting_through_scale_shortside_and_crop(tmp_path: Path) -> None:
    """The shorter side goes to load_size with the aspect ratio kept (96x64), then a crop_size crop."""
    painting = Image.open(write_image(tmp_path / "trainA" / "painting.png", (300, 200), seed=3))
    write_image(tmp_path / "trainB" / "photo.png", (200, 300), seed=4)  # portrait: its width is the shorter side
    opt = make_opt(tmp_path, preprocess="scale_shortside_and_crop", load_size=64, crop_size=48, no_flip=True)
    assert pre_crop_size(opt, (300, 200)) == (96, 64) and pre_crop_size(opt, (200, 300)) == (64, 96)
    assert output_size(opt, (300, 200)) == (48, 48)
    random.seed(0)
    positions = {get_params(opt, (300, 200))["crop_pos"] for _ in range(400)}
    assert {x for x, _ in positions} == set(range(49)) and {y for _, y in positions} == set(range(17))

    params = {"crop_pos": (30, 10), "flip": False}
    expected = T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])(
        painting.resize((96, 64), Image.Resampling.BICUBIC).crop((30, 10, 78, 58)))
    assert torch.equal(get_transform(opt, params)(painting), expected)
    sample = dataset_of(tmp_path, preprocess="scale_shortside_and_crop", load_size=64, crop_size=48)[0]
    assert sample["A"].shape == sample["B"].shape == (3, 48, 48)

    with pytest.raises(UserError, match="--crop_size 80 is larger than --load_size 64"):
        check_size_options(make_opt(tmp_path, preprocess="scale_shortside_and_crop", load_size=64, crop_size=80))
    with pytest.raises(UserError, match="images are 100 px on their shorter side, .* use --load_size 128"):
        check_size_options(make_opt(tmp_path, preprocess="scale_shortside", load_size=100), 128)


def test_resize_and_crop_matches_the_reference_chain(tmp_path: Path) -> None:
    img = Image.open(write_image(tmp_path / "x.png", (50, 30)))
    opt = make_opt(tmp_path, load_size=32, crop_size=32, no_flip=True)
    reference = T.Compose([T.Resize([32, 32], interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
                           T.Normalize((0.5,) * 3, (0.5,) * 3)])
    assert torch.equal(get_transform(opt)(img), reference(img))
    assert torch.equal(get_transform(opt, method=Image.Resampling.BICUBIC)(img), reference(img))


def test_flip_and_no_flip(tmp_path: Path) -> None:
    img = Image.open(solid(tmp_path / "bw.png", (40, 40), [(0, 0, 0), (255, 255, 255)]))
    opt = make_opt(tmp_path, preprocess="none")
    left = lambda t: t[0, 0, 0].item()  # noqa: E731
    assert left(get_transform(opt, {"crop_pos": (0, 0), "flip": True})(img)) == 1.0
    assert left(get_transform(opt, {"crop_pos": (0, 0), "flip": False})(img)) == -1.0
    random.seed(0)
    assert {left(get_transform(opt)(img)) for _ in range(20)} == {1.0, -1.0}
    no_flip = make_opt(tmp_path, preprocess="none", no_flip=True)
    assert left(get_transform(no_flip, {"crop_pos": (0, 0), "flip": True})(img)) == -1.0
    assert {left(get_transform(no_flip)(img)) for _ in range(20)} == {-1.0}


def test_grayscale_transform_has_one_channel_in_range(tmp_path: Path) -> None:
    img = Image.open(write_image(tmp_path / "x.png", (40, 40)))
    t = get_transform(make_opt(tmp_path), grayscale=True)(img)
    assert t.shape == (1, 32, 32) and in_range(t) and t.min() < 0 < t.max()


def test_crop_larger_than_the_image_names_the_file_and_flag(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=1, size=(20, 20))
    with pytest.raises(ImageTooSmallError) as err:
        dataset_of(root, preprocess="crop")[0]
    assert str(root / "trainA" / "a0.png") in str(err.value) and "--crop_size 32" in str(err.value)
    assert isinstance(err.value, UserError)
    aligned = make_aligned(tmp_path / "ab", n=1, size=(20, 20))
    with pytest.raises(ImageTooSmallError, match=r"0\.png'.*20x20.*--crop_size 32"):
        dataset_of(aligned, dataset_mode="aligned", preprocess="crop")[0]


def test_datasets_can_be_pickled_for_spawned_workers(tmp_path: Path) -> None:
    ds = dataset_of(make_unaligned(tmp_path / "u", n=1), preprocess="scale_width_and_crop")
    copy = pickle.loads(pickle.dumps(ds))
    assert copy[0]["A"].shape == (3, 32, 32)


# ---------------------------------------------------------------- finding files

def test_make_dataset_is_recursive_sorted_and_truncates_after_sorting(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for name in ("c.png", "a.png", "sub/b.jpg", "B.PNG", "d.Jpeg", "e.webp", ".hidden.png", "notes.txt",
                 ".ipynb_checkpoints/a-checkpoint.png"):
        write_image(root / name, (8, 8)) if name != "notes.txt" else (root / name).write_text("x")
    expected = [str(root / n) for n in ("B.PNG", "a.png", "c.png", "d.Jpeg", "e.webp", "sub/b.jpg")]
    assert make_dataset(str(root)) == expected
    assert make_dataset(str(root), 3) == expected[:3]
    ds = dataset_of(root, dataset_mode="single", max_dataset_size=2)
    assert ds.A_paths == expected[:2] and len(ds) == 2
    assert is_image_file("X.TIFF") and not is_image_file("x.gif") and ".jpg" in IMG_EXTENSIONS \
        and ".JPG" in IMG_EXTENSIONS


def test_missing_or_empty_dataroot_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nowhere/trainA' is not a folder \(check --dataroot"):
        dataset_of(tmp_path / "nowhere")
    (tmp_path / "empty" / "trainA").mkdir(parents=True)
    (tmp_path / "empty" / "trainA" / "readme.txt").write_text("x")
    with pytest.raises(UserError, match=r"empty/trainA' contains no images"):
        dataset_of(tmp_path / "empty")


def test_unreadable_images_raise_image_read_error_naming_the_file(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    write_image(root / "a.png", (40, 40))
    (root / "b.png").write_bytes(b"this is not an image")
    good = write_image(tmp_path / "full.png", (40, 40)).read_bytes()
    (root / "c.png").write_bytes(good[: len(good) // 2])
    for name, reason in (("b.png", "not an image file"), ("c.png", "truncated")):
        with pytest.raises(ImageReadError) as err:
            load_image(str(root / name))
        assert str(err.value).startswith(f"cannot read image '{root / name}': ") and reason in str(err.value)
    with pytest.raises(ImageReadError, match="cannot read image"):
        load_image(str(root / "missing.png"))
    ds = dataset_of(root, dataset_mode="single")
    assert ds[0]["A"].shape == (3, 32, 32)
    with pytest.raises(ImageReadError, match="b.png"):
        ds[1]


def test_unreadable_image_in_a_worker_process_is_reraised_as_image_read_error(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    write_image(root / "a.png", (40, 40))
    (root / "b.png").write_bytes(b"this is not an image")
    loader = data.create_dataset(make_opt(root, dataset_mode="single", num_threads=1, serial_batches=True))
    with pytest.raises(ImageReadError) as err:
        list(loader)
    last = str(err.value).strip().splitlines()[-1]
    assert str(root / "b.png") in last
    assert user_error_line(err.value).startswith(f"cannot read image '{root / 'b.png'}'")


# ---------------------------------------------------------------- the loader

def test_loader_batches_length_and_max_dataset_size(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_unaligned(tmp_path / "u", n=5)
    with caplog.at_level(logging.INFO, logger="data"):
        loader = data.create_dataset(make_opt(root, batch_size=2))
    assert "dataset [UnalignedDataset] was created" in caplog.text
    assert len(loader) == 5 and loader.dataloader.batch_size == 2 and not loader.dataloader.pin_memory
    batches = list(loader)
    assert [len(b["A_paths"]) for b in batches] == [2, 2, 1]  # no drop_last
    assert batches[0]["A"].shape == (2, 3, 32, 32)
    loader.opt.max_dataset_size = 3  # a cap below the dataset's own length stops the iteration
    assert len(loader) == 3 and sum(len(b["A_paths"]) for b in loader) == 4  # whole batches until 3 are reached
    assert len(data.create_dataset(make_opt(root, max_dataset_size=2))) == 2


def test_same_seeds_give_the_same_batches(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=6)

    def epoch(seed: int, workers: int) -> List[Any]:
        random.seed(seed)
        torch.manual_seed(seed)
        loader = data.create_dataset(make_opt(root, batch_size=2, num_threads=workers))
        return [(b["A_paths"], b["B_paths"], b["A"]) for b in loader]

    def same(x: List[Any], y: List[Any]) -> bool:
        return all(a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2]) for a, b in zip(x, y))

    for workers in (0, 1):
        first = epoch(5, workers)
        assert same(first, epoch(5, workers))
        assert not same(first, epoch(6, workers))


def test_restoring_torch_rng_replays_the_order_with_workers(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=6)
    # seeded: an unseeded training run keeps its workers across epochs (faster, not replayable)
    loader = data.create_dataset(make_opt(root, num_threads=1, seed=0))
    state = torch.get_rng_state()
    first = [(b["A_paths"], b["B_paths"]) for b in loader]
    torch.set_rng_state(state)
    random.seed(12345)  # the main process's Python generator plays no part with workers
    assert [(b["A_paths"], b["B_paths"]) for b in loader] == first


def test_sampler_replaces_shuffle_and_receives_the_epoch(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=5)
    seen: List[int] = []

    class Reversed(torch.utils.data.Sampler):
        def __init__(self, dataset: Any) -> None:
            self.n = len(dataset)

        def __iter__(self):
            return iter(range(self.n - 1, -1, -1))

        def __len__(self) -> int:
            return self.n

        def set_epoch(self, epoch: int) -> None:
            seen.append(epoch)

    loader = data.create_dataset(make_opt(root, serial_batches=True), sampler=Reversed)
    loader.set_epoch(3)
    assert seen == [3] and [Path(b["A_paths"][0]).name for b in loader] == [f"a{i}.png" for i in range(4, -1, -1)]
    half = torch.utils.data.DistributedSampler(loader.dataset, num_replicas=2, rank=0, shuffle=True)
    loader = data.create_dataset(make_opt(root), sampler=half)
    assert len(loader) == 3 and sum(len(b["A_paths"]) for b in loader) == 3
    data.create_dataset(make_opt(root)).set_epoch(1)  # no sampler: nothing to tell


# ---------------------------------------------------------------- the toy dataset

def _load_toy_module() -> Any:
    return importlib.import_module("datasets.make_toy_dataset")


def _folder_bytes(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_toy_dataset_script_writes_both_datasets(tmp_path: Path) -> None:
    proc = run_script("datasets/make_toy_dataset.py", ["--root", str(tmp_path / "toy"), "--size", "32",
                                                       "--n_train", "6", "--n_test", "2", "--seed", "1"])
    assert "shapes_paired" in proc.stdout and "trainA 6" in proc.stdout
    toy = tmp_path / "toy"
    counts = {"shapes/trainA": 6, "shapes/trainB": 6, "shapes/testA": 2, "shapes/testB": 2,
              "shapes_paired/train": 6, "shapes_paired/val": 2, "shapes_paired/test": 2}
    for folder, n in counts.items():
        files = sorted((toy / folder).iterdir())
        assert [p.name for p in files] == [f"{i:04d}.png" for i in range(n)]
        width = 64 if folder.startswith("shapes_paired") else 32
        assert all(Image.open(p).size == (width, 32) for p in files)
    for p in sorted((toy / "shapes_paired" / "train").iterdir()):
        ab = np.asarray(Image.open(p).convert("RGB")).astype(int)
        # ink: every channel below 200 (the pale wash inside an outline is not)
        a_ink, b_ink = ((ab[:, :32] < 200).all(-1)), ((ab[:, 32:] < 200).all(-1))
        assert 0 < a_ink.sum() < b_ink.sum() and (a_ink & ~b_ink).sum() <= 0.05 * a_ink.sum()

    def ink_color(path: Path) -> np.ndarray:
        img = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).astype(float)
        return img[(img < 200).all(-1)].mean(0)

    unpaired = [np.abs(ink_color(toy / "shapes" / "trainA" / f"{i:04d}.png") -
                       ink_color(toy / "shapes" / "trainB" / f"{i:04d}.png")).max() for i in range(6)]
    assert max(unpaired) > 30  # B is drawn from other shapes than A
    loader = data.create_dataset(make_opt(toy / "shapes_paired", dataset_mode="aligned", batch_size=6))
    assert next(iter(loader))["A"].shape == (6, 3, 32, 32)


def test_toy_dataset_is_deterministic_and_reruns_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    toy = _load_toy_module()
    args = ["--size", "24", "--n_train", "4", "--n_test", "1"]
    toy.main(["--root", str(tmp_path / "one"), *args])
    toy.main(["--root", str(tmp_path / "two"), *args])
    assert _folder_bytes(tmp_path / "one") == _folder_bytes(tmp_path / "two")
    toy.main(["--root", str(tmp_path / "two"), *args, "--seed", "7"])
    assert _folder_bytes(tmp_path / "one") != _folder_bytes(tmp_path / "two")
    toy.main(["--root", str(tmp_path / "one"), "--size", "24", "--n_train", "2", "--n_test", "1"])
    assert sorted(p.name for p in (tmp_path / "one" / "shapes" / "trainB").iterdir()) == ["0000.png", "0001.png"]
    assert not list((tmp_path / "one").rglob("*.tmp"))
    with pytest.raises(UserError, match="--size"):
        toy.main(["--root", str(tmp_path / "three"), "--size", "8"])
    assert "wrote" in capsys.readouterr().out
