"""scripts/check_dataset.py on tiny real datasets: a good one passes, each kind of problem is named."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, List, Tuple

import pytest
from PIL import Image

from tests.conftest import make_aligned, make_unaligned, run_script, write_image
from util.errors import UserError


@pytest.fixture(scope="module")
def check_dataset() -> Any:
    return importlib.import_module("scripts.check_dataset")


def run(module: Any, capsys: pytest.CaptureFixture, *argv: str) -> Tuple[int, List[str]]:
    """(exit status, stdout lines) of check_dataset's main in this process."""
    try:
        module.main(list(argv))
        status = 0
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    return status, capsys.readouterr().out.splitlines()


def test_good_unaligned_dataset_passes_as_a_script(tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=3)
    for i in range(3, 60):  # enough files for the parallel reader
        write_image(root / "trainA" / f"a{i}.png", (40, 40), seed=i)
    proc = run_script("scripts/check_dataset.py", ["--dataroot", str(root), "--load_size", "36",
                                                   "--crop_size", "32"])
    out = proc.stdout
    assert f"{root / 'trainA'}: 60 images" in out and f"{root / 'trainB'}: 3 images" in out
    assert "sizes: 40x40 (all)" in out and "modes: RGB 60" in out and "training size: 32x32 (all)" in out
    assert out.strip().splitlines()[-1] == "OK: training with these settings would work"


def test_corrupt_file_and_odd_width_fail_as_a_script(tmp_path: Path) -> None:
    root = make_aligned(tmp_path / "ab", n=2)
    (root / "train" / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    Image.new("RGB", (81, 40), (10, 20, 30)).save(root / "train" / "odd.png")
    proc = run_script("scripts/check_dataset.py", ["--dataroot", str(root), "--dataset_mode", "aligned",
                                                   "--load_size", "36", "--crop_size", "32"], check=False)
    assert proc.returncode == 1
    problems = [line for line in proc.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 2
    assert problems[0].startswith(f"problem: cannot read image '{root / 'train' / 'bad.jpg'}'")
    assert problems[1].startswith(f"problem: '{root / 'train' / 'odd.png'}': width 81 is odd")
    assert f"{root / 'train'}: 4 images" in proc.stdout and "A and B halves:" in proc.stdout


def test_images_smaller_than_the_crop_are_named(check_dataset: Any, capsys: pytest.CaptureFixture,
                                                tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=2, size=(40, 40))
    write_image(root / "trainB" / "small.png", (20, 30))
    status, out = run(check_dataset, capsys, "--dataroot", str(root), "--preprocess", "crop", "--crop_size", "32")
    assert status == 1
    problems = [line for line in out if line.startswith("problem: ")]
    assert problems == [f"problem: '{root / 'trainB' / 'small.png'}': image is 20x30 after --preprocess crop, "
                        f"smaller than --crop_size 32; lower --crop_size or use --preprocess resize_and_crop or "
                        f"scale_width_and_crop"]
    assert out[-1] == "1 problem(s): training with these settings would fail"
    status, out = run(check_dataset, capsys, "--dataroot", str(root), "--preprocess", "scale_width_and_crop",
                      "--load_size", "36", "--crop_size", "32")
    assert status == 0  # scale_width keeps the height at least crop_size


def test_many_problems_of_one_kind_are_capped(check_dataset: Any, capsys: pytest.CaptureFixture,
                                              tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for i in range(25):
        write_image(root / f"{i:02d}.png", (16, 16), seed=i)
    status, out = run(check_dataset, capsys, "--dataroot", str(root), "--dataset_mode", "single",
                      "--preprocess", "crop", "--crop_size", "32")
    problems = [line for line in out if line.startswith("problem: ")]
    assert status == 1 and len(problems) == 21 and problems[-1] == "problem: ... and 5 more like the line above"
    assert out[-1].startswith("25 problem(s)")


def test_settings_and_layout_errors_are_user_errors(check_dataset: Any, capsys: pytest.CaptureFixture,
                                                    tmp_path: Path) -> None:
    root = make_unaligned(tmp_path / "u", n=1)
    with pytest.raises(UserError, match="--dataroot .*nowhere does not exist"):
        check_dataset.main(["--dataroot", str(tmp_path / "nowhere")])
    with pytest.raises(UserError, match=r"valA' is not a folder"):
        check_dataset.main(["--dataroot", str(root), "--phase", "val"])
    with pytest.raises(UserError, match="--crop_size 300 is larger than --load_size 286"):
        check_dataset.main(["--dataroot", str(root), "--crop_size", "300"])
    with pytest.raises(UserError, match="--input_nc must be 1"):
        check_dataset.main(["--dataroot", str(root), "--dataset_mode", "colorization", "--phase", "trainA",
                            "--input_nc", "3"])
    with pytest.raises(SystemExit) as exit_:
        check_dataset.main(["--dataroot", str(root), "--dataset_mode", "nosuchmode"])
    assert exit_.value.code == 2 and "unknown dataset mode 'nosuchmode'" in capsys.readouterr().err


def test_colorization_single_file_and_mixed_sizes(check_dataset: Any, capsys: pytest.CaptureFixture,
                                                  tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_image(root / "train" / "color.png", (40, 40))
    write_image(root / "train" / "gray.png", (44, 36), mode="L")
    status, out = run(check_dataset, capsys, "--dataroot", str(root), "--dataset_mode", "colorization",
                      "--preprocess", "none")
    assert status == 0 and "  modes: L 1, RGB 1" in out
    assert any("1 image(s) are grayscale" in line for line in out)
    assert any("only --batch_size 1 works" in line for line in out)
    assert any(line.startswith("  sizes: most common") and "2 different" in line for line in out)

    status, out = run(check_dataset, capsys, "--dataroot", str(root / "train" / "color.png"),
                      "--dataset_mode", "single", "--load_size", "36", "--crop_size", "32")
    assert status == 0 and f"{root / 'train'}: 1 image" in out
