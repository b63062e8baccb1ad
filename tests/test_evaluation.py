"""Metrics (evaluation/): PSNR/SSIM against known values, FID/KID against pytorch-fid and torch-fidelity on the
same files and weights, the missing-weights line, scripts/evaluate.py and test.py --eval_metrics."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import List

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from evaluation import metrics
from evaluation.folders import evaluate_folders, evaluate_results
from tests.conftest import make_aligned, no_weights_env, run_script, write_image
from util.errors import UserError

TORCH_HOME_FILE = Path("hub") / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth"


def image_folder(root: Path, seeds: List[int], size=(40, 40)) -> Path:
    for seed in seeds:
        write_image(root / f"{seed:03d}.png", size, seed=seed)
    return root


def noise_folder(root: Path, n: int, seed: int = 0) -> Path:
    """Images of uniform noise: far, for any Inception, from the smooth images of ``image_folder``."""
    rng = np.random.RandomState(seed)
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.randint(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / f"noise{i}.png")
    return root


def results_folder(root: Path, n: int = 4) -> Path:
    """A test.py results folder of a pix2pix run: images/{i}_real_A|fake_B|real_B.png."""
    images = root / "images"
    for i in range(n):
        write_image(images / f"{i}_real_A.png", seed=i)
        write_image(images / f"{i}_real_B.png", seed=20 + i)
        write_image(images / f"{i}_fake_B.png", seed=40 + i)
    return root


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


# ---------------------------------------------------------------------------------------------- paired


def test_psnr_l1_and_ssim_of_known_images() -> None:
    real = torch.full((2, 3, 16, 16), 0.5, dtype=torch.float64)
    checker = ((torch.arange(16).view(1, 16) + torch.arange(16).view(16, 1)) % 2 * 2 - 1).double()  # +-1
    fake = torch.stack([real[0] + 0.1, real[1] + 0.01 * checker])
    values = metrics.paired_metrics(fake, real)
    # MSE 0.01 and 1e-4, range 1 (torchmetrics scales by log(10) in float32: 5e-8 relative)
    assert values["psnr"].tolist() == pytest.approx([20.0, 40.0], abs=1e-5)
    assert values["l1"].tolist() == pytest.approx([0.1, 0.01], abs=1e-12)
    # Two flat images a, b: both variances are 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * range)^2
    flat = metrics.paired_metrics(torch.full((1, 1, 16, 16), 0.5), torch.full((1, 1, 16, 16), 0.25))
    # SSIM runs in float32 (E[x^2] - E[x]^2 loses ~1e-5): 1e-4, while a wrong window or border is off by 1e-3
    assert flat["ssim"].item() == pytest.approx((2 * 0.5 * 0.25 + 1e-4) / (0.25 + 0.0625 + 1e-4), abs=1e-4)
    assert metrics.paired_metrics(real, real)["ssim"].tolist() == pytest.approx([1.0, 1.0], abs=1e-4)
    assert torch.isinf(metrics.paired_metrics(real, real)["psnr"]).all()


def test_ssim_equals_scikit_image_gaussian_ssim() -> None:
    """Wang et al.'s SSIM as scikit-image computes it (Gaussian window, sigma 1.5, population covariance)."""
    rng = np.random.RandomState(0)
    real = rng.rand(2, 3, 48, 40)
    fake = np.clip(real + rng.normal(0, 0.1, real.shape), 0, 1)
    ours = metrics.paired_metrics(torch.from_numpy(fake), torch.from_numpy(real))["ssim"].tolist()
    reference = [structural_similarity(f, r, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=1.0, channel_axis=0) for f, r in zip(fake, real)]
    assert ours == pytest.approx(reference, abs=1e-4)


def test_from_model_range_rounds_as_saved_images() -> None:
    from util.util import tensor2im

    generated = torch.rand(1, 3, 8, 8) * 2.2 - 1.1  # beyond [-1, 1] too
    assert np.array_equal((metrics.from_model_range(generated)[0] * 255).round().byte().permute(1, 2, 0).numpy(),
                          tensor2im(generated))


# ---------------------------------------------------------------------------------------------- FID / KID


@pytest.mark.slow  # Inception forward passes at 299 x 299 on the CPU
def test_fid_of_a_folder_against_itself_is_zero_and_kid_about_zero(weights: Path, tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "a", list(range(6)))
    other = noise_folder(tmp_path / "b", 6)
    same = evaluate_folders(folder, folder, inception_weights=weights)["comparisons"]["a vs a"]["values"]
    different = evaluate_folders(folder, other, inception_weights=weights)["comparisons"]["a vs b"]["values"]
    assert different["fid"] > 1.0 and different["kid"] > 0.01
    assert same["fid"] == pytest.approx(0.0, abs=1e-3 * different["fid"])
    assert abs(same["kid"]) < 0.05 * different["kid"]
    assert same["psnr"] == float("inf") and same["ssim"] == pytest.approx(1.0, abs=1e-4)
    assert "l1" not in different  # file names differ: not pairs


@pytest.mark.slow  # pytorch-fid's scipy sqrtm of a 2048 x 2048 matrix: about a minute on one core
def test_fid_and_kid_equal_the_reference_packages(weights: Path, tmp_path: Path, monkeypatch) -> None:
    """pytorch-fid, run as its command line runs, loads the same file from its own cache place (TORCH_HOME)."""
    from pytorch_fid.fid_score import calculate_fid_given_paths, get_activations
    from pytorch_fid.inception import InceptionV3
    from torch_fidelity.metric_kid import kid_features_to_metric

    fake = image_folder(tmp_path / "fake", list(range(5)))
    real = image_folder(tmp_path / "real", list(range(30, 37)), size=(48, 40))
    home = tmp_path / "torch_home"
    (home / TORCH_HOME_FILE).parent.mkdir(parents=True)
    shutil.copy(weights, home / TORCH_HOME_FILE)
    monkeypatch.setenv("TORCH_HOME", str(home))
    reference_fid = calculate_fid_given_paths([str(fake), str(real)], batch_size=50, device="cpu", dims=2048,
                                              num_workers=0)
    network = InceptionV3([3]).eval()
    features = [torch.from_numpy(get_activations(sorted(str(p) for p in folder.iterdir()), network, 50, 2048, "cpu",
                                                 num_workers=0)) for folder in (fake, real)]
    reference_kid = kid_features_to_metric(*features, kid_subsets=100, kid_subset_size=5, verbose=False)

    ours = evaluate_folders(fake, real, inception_weights=weights)["comparisons"]["fake vs real"]["values"]
    assert ours["fid"] == pytest.approx(reference_fid, rel=1e-4)
    assert ours["kid"] == pytest.approx(reference_kid["kernel_inception_distance_mean"], rel=1e-4)
    assert ours["kid_std"] == pytest.approx(reference_kid["kernel_inception_distance_std"], rel=1e-3)
    # without any flag, the file pytorch-fid keeps in the torch hub cache is used
    assert metrics.inception_weights_file() == home / TORCH_HOME_FILE


@pytest.mark.slow  # Inception forward passes at 299 x 299 on the CPU
def test_evaluator_keeps_the_real_set_across_resets(weights: Path) -> None:
    evaluator = metrics.Evaluator(("fid", "kid", "psnr"), inception_weights=weights, batch_size=3)
    fake, real = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    evaluator.update(fake, real)
    first = evaluator.compute()
    evaluator.reset(keep_real=True)
    evaluator.update_fake(fake)
    again = evaluator.compute()
    assert set(first) == {"psnr", "fid", "kid", "kid_std"} and "psnr" not in again
    assert again["fid"] == pytest.approx(first["fid"], rel=1e-6) and again["kid"] == pytest.approx(first["kid"])


def test_weights_that_are_not_pytorch_fid_inception_give_one_line(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(UserError, match="is not the pytorch-fid Inception weights file"):
        metrics.load_inception(wrong)
    garbage = tmp_path / "garbage.pth"
    garbage.write_text("not a checkpoint")
    with pytest.raises(UserError, match="cannot read Inception weights"):
        metrics.load_inception(garbage)


# ---------------------------------------------------------------------------------------------- scripts


def test_missing_weights_one_line_and_paired_metrics_still_run(tmp_path: Path) -> None:
    results = results_folder(tmp_path / "results")
    proc = run_script("scripts/evaluate.py", ["--results", str(results)], env=no_weights_env(tmp_path))
    output = (proc.stdout + proc.stderr).splitlines()
    lines = [line for line in output if "Inception" in line]
    assert lines == [metrics.missing_weights_message()], output
    assert "--inception_weights PATH" in lines[0] and "pt_inception-2015-12-05-6726825d.pth" in lines[0]
    report = json.loads((results / "metrics.json").read_text())
    assert set(report["comparisons"]["fake_B vs real_B"]["values"]) == {"l1", "psnr", "ssim"}

    proc = run_script("scripts/evaluate.py", ["--results", str(results), "--inception_weights",
                                              str(tmp_path / "nope.pth")], check=False, env=no_weights_env(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: --inception_weights: no file '{tmp_path / 'nope.pth'}'"


def test_evaluate_results_folder_table_and_json(weights: Path, tmp_path: Path) -> None:
    results = results_folder(tmp_path / "results")
    write_image(results / "images" / "9_fake_B.png", seed=99)  # no real_B beside it: not compared
    proc = run_script("scripts/evaluate.py", ["--results", str(results), "--device", "cpu"],
                      env={"IMG2IMG_INCEPTION_WEIGHTS": str(weights)})
    report = json.loads((results / "metrics.json").read_text())
    entry = report["comparisons"]["fake_B vs real_B"]
    assert list(report["comparisons"]) == ["fake_B vs real_B"] and entry["fake_images"] == 4 and entry["paired"]
    pairs = [(read(results / "images" / f"{i}_fake_B.png"), read(results / "images" / f"{i}_real_B.png"))
             for i in range(4)]
    psnr = np.mean([10 * np.log10(1.0 / np.mean((f - r) ** 2)) for f, r in pairs])
    ssim = np.mean([structural_similarity(f, r, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                          data_range=1.0, channel_axis=2) for f, r in pairs])
    assert entry["values"]["psnr"] == pytest.approx(psnr, abs=1e-5)
    assert entry["values"]["ssim"] == pytest.approx(ssim, abs=1e-4)
    assert entry["values"]["l1"] == pytest.approx(np.mean([np.abs(f - r).mean() for f, r in pairs]), abs=1e-9)
    assert entry["values"]["fid"] > 0 and "kid" in entry["values"]
    header, row = proc.stdout.splitlines()[:2]
    assert header.split() == ["comparison", "images", "L1", "PSNR", "SSIM", "FID", "KID"]
    assert row.startswith("fake_B vs real_B") and f"{psnr:.2f}" in row

    unpaired = run_script("scripts/evaluate.py", ["--results", str(results), "--unpaired", "--json",
                                                  str(tmp_path / "u.json")],
                          env={"IMG2IMG_INCEPTION_WEIGHTS": str(weights)})
    values = json.loads((tmp_path / "u.json").read_text())["comparisons"]["fake_B vs real_B"]["values"]
    assert set(values) == {"fid", "kid", "kid_std"} and values["fid"] == pytest.approx(entry["values"]["fid"])
    assert "fake_B vs real_B" in unpaired.stdout

    lonely = write_image(tmp_path / "lonely" / "0_fake_B.png").parent
    bad = run_script("scripts/evaluate.py", ["--results", str(lonely)], check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--results" in bad.stderr


def test_test_py_eval_metrics_writes_json_and_shows_them_on_the_page(weights: Path, tmp_path: Path) -> None:
    from models import networks

    data = make_aligned(tmp_path / "data", n=3, size=(32, 32))
    torch.manual_seed(0)
    generator = networks.define_G(3, 3, 8, "resnet_6blocks", norm="batch", use_dropout=True)
    (tmp_path / "ckpt" / "p2p").mkdir(parents=True)
    torch.save(generator.state_dict(), tmp_path / "ckpt" / "p2p" / "latest_net_G.pth")
    results = tmp_path / "results"
    run_script("test.py", ["--dataroot", str(data), "--checkpoints_dir", str(tmp_path / "ckpt"), "--name", "p2p",
                           "--model", "pix2pix", "--netG", "resnet_6blocks", "--ngf", "8", "--norm", "batch",
                           "--dataset_mode", "aligned", "--gpu_ids", "-1", "--load_size", "32", "--crop_size", "32",
                           "--results_dir", str(results), "--eval_metrics", "--inception_weights", str(weights)])
    page = results / "p2p" / "test_latest"
    measured = json.loads((page / "metrics.json").read_text())["comparisons"]["fake_B vs real_B"]
    assert measured["fake_images"] == 3 and set(measured["values"]) == {"l1", "psnr", "ssim", "fid", "kid", "kid_std"}
    again = evaluate_results(page, inception_weights=weights)["comparisons"]["fake_B vs real_B"]["values"]
    assert again["psnr"] == pytest.approx(measured["values"]["psnr"], abs=1e-9)
    html = (page / "index.html").read_text()
    assert "fake_B vs real_B" in html and f"PSNR {measured['values']['psnr']:.2f}" in html

    proc = run_script("test.py", ["--dataroot", str(data / "test"), "--checkpoints_dir", str(tmp_path / "ckpt"),
                                  "--name", "p2p", "--model", "test", "--gpu_ids", "-1", "--eval_metrics"], check=False)
    assert proc.returncode == 2 and "--eval_metrics" in proc.stderr and proc.stderr.count("\n") == 1
