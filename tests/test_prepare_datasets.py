"""The dataset-preparation scripts in datasets/, run as subprocesses on tiny real image folders."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from tests.conftest import run_script, write_image
from util.errors import UserError


def load_script(name: str):
    """Import datasets/NAME.py in-process, for the quick error cases (a subprocess pays torch's import)."""
    return importlib.import_module(f"datasets.{name}")


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def solid(path: Path, size, color) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def test_combine_pairs_by_stem_and_reports_unmatched_and_size_mismatch(tmp_path):
    a, b, ab = tmp_path / "A", tmp_path / "B", tmp_path / "AB"
    write_image(a / "train" / "x.png", (24, 16), seed=1)
    write_image(b / "train" / "x.jpg", (24, 16), seed=2)      # same stem, other extension: still a pair
    write_image(a / "train" / "y.png", (24, 16), seed=3)
    write_image(b / "train" / "y.png", (24, 16), seed=4)
    write_image(a / "train" / "lonely_a.png", (24, 16), seed=5)
    write_image(b / "train" / "lonely_b.png", (24, 16), seed=6)
    write_image(a / "train" / "big.png", (24, 16), seed=7)
    write_image(b / "train" / "big.png", (32, 16), seed=8)
    write_image(a / "test" / "z.png", (24, 16), seed=9)
    write_image(b / "test" / "z.png", (24, 16), seed=10)
    (a / "train" / "notes.txt").write_text("not an image")

    proc = run_script("datasets/combine_A_and_B.py", ["--fold_A", str(a), "--fold_B", str(b), "--fold_AB", str(ab)])
    assert sorted(p.name for p in (ab / "train").iterdir()) == ["x.png", "y.png"]
    assert sorted(p.name for p in (ab / "test").iterdir()) == ["z.png"]
    for split, name, b_name in (("train", "x.png", "x.jpg"), ("train", "y.png", "y.png"), ("test", "z.png", "z.png")):
        out = pixels(ab / split / name)
        assert out.shape == (16, 48, 3)
        assert np.array_equal(out[:, :24], pixels(a / split / name))
        assert np.array_equal(out[:, 24:], pixels(b / split / b_name))
    log = proc.stdout + proc.stderr
    assert "lonely_a.png" in log and "lonely_b.png" in log
    assert "big.png" in log and "differ in size" in log
    assert "train: wrote 2 image(s)" in proc.stdout and "skipped 3" in proc.stdout


def test_combine_use_ab_num_imgs_and_nothing_to_make(tmp_path):
    a, b, ab = tmp_path / "A", tmp_path / "B", tmp_path / "AB"
    for i in (3, 1, 2):
        write_image(a / "val" / f"p{i}_A.png", (16, 16), seed=i)
        write_image(b / "val" / f"p{i}_B.png", (16, 16), seed=10 + i)
    run_script("datasets/combine_A_and_B.py", ["--fold_A", str(a), "--fold_B", str(b), "--fold_AB", str(ab),
                                               "--use_AB", "--num_imgs", "2", "--no_multiprocessing"])
    assert sorted(p.name for p in (ab / "val").iterdir()) == ["p1.png", "p2.png"]  # the first two in sorted order
    assert np.array_equal(pixels(ab / "val" / "p2.png")[:, 16:], pixels(b / "val" / "p2_B.png"))



def test_combine_errors(tmp_path):
    main = load_script("combine_A_and_B").main
    a, b = tmp_path / "A", tmp_path / "B"
    write_image(a / "val" / "one.png", (16, 16))
    write_image(b / "val" / "other.png", (16, 16))
    with pytest.raises(UserError, match="no A|B image could be made"):
        main(["--fold_A", str(a), "--fold_B", str(b), "--fold_AB", str(tmp_path / "AB"), "--no_multiprocessing"])
    assert not (tmp_path / "AB").exists()
    with pytest.raises(UserError, match="--fold_A .*missing is not a folder"):
        main(["--fold_A", str(tmp_path / "missing"), "--fold_B", str(b), "--fold_AB", str(tmp_path / "AB")])
    with pytest.raises(UserError, match="no split subfolders"):
        main(["--fold_A", str(a / "val"), "--fold_B", str(b), "--fold_AB", str(tmp_path / "AB")])


def test_make_dataset_aligned_by_name_by_index_and_size_mismatch(tmp_path):
    root = tmp_path / "ds"
    for name, seed in (("a", 1), ("b", 2)):
        write_image(root / "trainA" / f"{name}.png", (20, 20), seed=seed)
        write_image(root / "trainB" / f"{name}.png", (20, 20), seed=10 + seed)
    write_image(root / "trainA" / "c.png", (20, 20), seed=3)
    write_image(root / "trainB" / "c.png", (24, 20), seed=13)
    write_image(root / "testA" / "1.png", (20, 20), seed=4)
    write_image(root / "testA" / "2.png", (20, 20), seed=5)
    write_image(root / "testB" / "x.png", (20, 20), seed=6)
    write_image(root / "testB" / "y.png", (20, 20), seed=7)

    proc = run_script("datasets/make_dataset_aligned.py", ["--dataset-path", str(root)])
    assert sorted(p.name for p in (root / "train").iterdir()) == ["a.jpg", "b.jpg"]
    assert sorted(p.name for p in (root / "test").iterdir()) == ["0000.jpg", "0001.jpg"]
    out = pixels(root / "train" / "b.jpg")
    assert out.shape == (20, 40, 3)
    assert np.abs(out[:, :20] - pixels(root / "trainA" / "b.png")).mean() < 3
    assert np.abs(out[:, 20:] - pixels(root / "trainB" / "b.png")).mean() < 3
    # index pairing: sorted 1.png with sorted x.png, 2.png with y.png
    assert np.abs(pixels(root / "test" / "0001.jpg")[:, 20:] - pixels(root / "testB" / "y.png")).mean() < 3
    log = proc.stdout + proc.stderr
    assert "sorted position" in log
    assert "c.png" in log and "differ in size" in log


def _cityscapes_tree(root: Path) -> None:
    frames = {"train": [("aachen", "aachen_000000_000019"), ("aachen", "aachen_000001_000019"),
                        ("bochum", "bochum_000000_000313")],
              "val": [("frankfurt", "frankfurt_000000_000294")]}
    for split, items in frames.items():
        for city, ident in items:
            solid(root / "gtFine" / split / city / f"{ident}_gtFine_color.png", (64, 32), (0, 0, 255))
            solid(root / "gtFine" / split / city / f"{ident}_gtFine_labelIds.png", (64, 32), (7, 7, 7))
            solid(root / "leftImg8bit" / split / city / f"{ident}_leftImg8bit.png", (64, 32), (255, 0, 0))
    solid(root / "gtFine" / "train" / "bochum" / "bochum_000000_999999_gtFine_color.png", (64, 32), (0, 0, 255))


def test_prepare_cityscapes_writes_both_layouts(tmp_path):
    _cityscapes_tree(tmp_path)
    out = tmp_path / "out"
    proc = run_script("datasets/prepare_cityscapes_dataset.py",
                      ["--gtFine_dir", str(tmp_path / "gtFine"), "--leftImg8bit_dir", str(tmp_path / "leftImg8bit"),
                       "--output_dir", str(out)])
    assert sorted(p.name for p in (out / "train").iterdir()) == ["0.jpg", "1.jpg", "2.jpg"]
    assert sorted(p.name for p in (out / "test").iterdir()) == ["0.jpg"]
    assert sorted(p.name for p in (out / "trainA").iterdir()) == ["0_A.jpg", "1_A.jpg", "2_A.jpg"]
    assert sorted(p.name for p in (out / "testB").iterdir()) == ["0_B.jpg"]
    with Image.open(out / "train" / "2.jpg") as im:
        assert im.size == (512, 256)
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4, no chroma subsampling
    side = pixels(out / "test" / "0.jpg")
    assert np.abs(side[:, :256] - [255, 0, 0]).max() <= 2       # photo on the left (A)
    assert np.abs(side[:, 256:] - [0, 0, 255]).max() <= 2       # colour label map on the right (B)
    assert Image.open(out / "trainB" / "1_B.jpg").size == (256, 256)
    assert "bochum_000000_999999_gtFine_color.png" in proc.stdout + proc.stderr

    main = load_script("prepare_cityscapes_dataset").main
    with pytest.raises(UserError, match="no Cityscapes frame found"):
        main(["--gtFine_dir", str(tmp_path / "leftImg8bit"), "--leftImg8bit_dir", str(tmp_path / "gtFine"),
              "--output_dir", str(tmp_path / "out2"), "--no_multiprocessing"])


def _square_photo(path: Path, seed: int) -> Path:
    """Light background with a dark square: its outline is the only boundary."""
    img = np.full((64, 64, 3), 220, dtype=np.uint8)
    img[16:48, 16 + seed:48 + seed] = (30, 40, 60)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def test_make_edges_dataset(tmp_path):
    photos = tmp_path / "photos"
    for i in range(3):
        _square_photo(photos / f"p{i}.png", i)
    _square_photo(photos / "sub" / "p3.png", 3)
    out = tmp_path / "edges2squares"
    proc = run_script("datasets/make_edges_dataset.py", ["--photos", str(photos), "--out", str(out), "--size", "64",
                                                         "--test_fraction", "0.25", "--sigma", "1"])
    train, test = sorted(p.name for p in (out / "train").iterdir()), sorted(p.name for p in (out / "test").iterdir())
    assert len(train) == 3 and len(test) == 1
    assert sorted(train + test) == ["p0.jpg", "p1.jpg", "p2.jpg", "sub_p3.jpg"]
    assert "wrote 3 train and 1 test image(s)" in proc.stdout
    for name, offset in (("p1.jpg", 1), ("sub_p3.jpg", 3)):
        pair = pixels(out / ("train" if name in train else "test") / name)
        assert pair.shape == (64, 128, 3)
        edges = pair[:, :64].mean(axis=2)
        assert (edges > 200).mean() > 0.85                 # mostly white
        ys, xs = np.nonzero(edges < 100)
        assert len(ys) > 60                                # the square's outline is drawn in dark lines
        to_row = np.abs(ys[:, None] - [16, 47]).min(axis=1)
        to_col = np.abs(xs[:, None] - [16 + offset, 47 + offset]).min(axis=1)
        assert (np.minimum(to_row, to_col) <= 2).mean() > 0.95   # and nothing away from it
    photo = pixels(photos / "sub" / "p3.png")
    assert np.abs(pair[:, 64:] - photo).mean() < 3         # B = the photo

def test_canny_finds_a_thin_step_edge():
    canny = load_script("make_edges_dataset").canny
    gray = np.zeros((32, 32))
    gray[:, 16:] = 1.0
    mask = canny(gray, sigma=1.0, low=0.1, high=0.3)
    columns = np.nonzero(mask.any(axis=0))[0]
    assert set(columns) <= {15, 16}                        # one thin line at the step
    assert mask[:, 15:17].any(axis=1).all()                # along its whole height
    assert mask.sum(axis=1).max() == 1                     # non-maximum suppression: one pixel wide
    assert not canny(np.full((8, 8), 0.5)).any()           # flat image: no edges


def test_make_edges_dataset_errors(tmp_path):
    main = load_script("make_edges_dataset").main
    photos, out = tmp_path / "photos", tmp_path / "out"
    _square_photo(photos / "p.png", 0)
    for args, message in ((["--low", "0.5", "--high", "0.2"], "--low"), (["--test_fraction", "2"], "--test_fraction"),
                          (["--size", "4"], "--size")):
        with pytest.raises(UserError, match=message):
            main(["--photos", str(photos), "--out", str(out), *args])
    (photos / "p.png").unlink()
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="could be read"):
        main(["--photos", str(photos), "--out", str(out), "--no_multiprocessing"])
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no images"):
        main(["--photos", str(empty), "--out", str(out)])


def test_make_dataset_aligned_errors(tmp_path):
    main = load_script("make_dataset_aligned").main
    with pytest.raises(UserError, match="no trainA/trainB"):
        main(["--dataset-path", str(tmp_path)])
    write_image(tmp_path / "trainA" / "a.png", (8, 8))
    write_image(tmp_path / "trainB" / "b.png", (8, 8))
    write_image(tmp_path / "trainB" / "c.png", (8, 8))
    with pytest.raises(UserError, match="no file names match and the counts differ"):
        main(["--dataset-path", str(tmp_path)])


def test_prepare_cityscapes_pix2pixhd_layout_copies_full_resolution_files(tmp_path):
    _cityscapes_tree(tmp_path)
    inst = np.full((32, 64), 7, dtype=np.uint16)
    inst[:, 40:] = 33001  # a bicycle instance: needs all 16 bits
    for split, city, ident in (("train", "aachen", "aachen_000000_000019"), ("train", "aachen", "aachen_000001_000019"),
                               ("val", "frankfurt", "frankfurt_000000_000294")):
        Image.fromarray(inst).save(tmp_path / "gtFine" / split / city / f"{ident}_gtFine_instanceIds.png")
    out = tmp_path / "hd"
    proc = run_script("datasets/prepare_cityscapes_dataset.py",
                      ["--gtFine_dir", str(tmp_path / "gtFine"), "--leftImg8bit_dir", str(tmp_path / "leftImg8bit"),
                       "--output_dir", str(out), "--layout", "pix2pixhd", "--no_multiprocessing"])
    assert sorted(p.name for p in (out / "train_label").iterdir()) == [
        "aachen_000000_000019_gtFine_labelIds.png", "aachen_000001_000019_gtFine_labelIds.png"]
    assert sorted(p.name for p in (out / "train_img").iterdir()) == [
        "aachen_000000_000019_leftImg8bit.png", "aachen_000001_000019_leftImg8bit.png"]
    assert [p.name for p in (out / "test_inst").iterdir()] == ["frankfurt_000000_000294_gtFine_instanceIds.png"]
    copied = out / "train_inst" / "aachen_000001_000019_gtFine_instanceIds.png"
    assert copied.read_bytes() == (tmp_path / "gtFine" / "train" / "aachen" / copied.name).read_bytes()
    assert np.array(Image.open(copied)).max() == 33001
    assert "bochum_000000_000313" in proc.stdout + proc.stderr  # no instance map: reported and skipped
    assert not (out / "train").exists()
