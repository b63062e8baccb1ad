"""scripts/benchmark.py at tiny settings: each subcommand runs for real and prints positive figures in its format."""
from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Dict, Tuple

import pytest
import torch

from tests.conftest import run_script
from util.errors import UserError

SCRIPT = "scripts/benchmark.py"
NUMBER = r"-?[0-9]+\.[0-9]+"
LINE = re.compile(rf"^(?P<name>\S.*?)\s+median\s+(?P<median>{NUMBER}) (?P<unit>\S+)\s+"
                  rf"mean\s+(?P<mean>{NUMBER}) (?P=unit)\s+\((?P<details>.*)\)$")
TINY_MODEL = ["--ngf", "8"]


def figures(stdout: str) -> Dict[str, Tuple[float, float, str, str]]:
    """{name: (median, mean, unit, details)} of the result lines; every other line is a ``==`` header."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("== "):
            continue
        match = LINE.match(line)
        assert match, f"line not in the result format: {line!r}"
        found[match["name"]] = (float(match["median"]), float(match["mean"]), match["unit"], match["details"])
    return found


def test_train_step_prints_seconds_per_iteration_and_writes_json(tmp_path: Path) -> None:
    report = tmp_path / "out" / "bench.json"
    proc = run_script(SCRIPT, ["train-step", *TINY_MODEL, "--ndf", "8", "--crop_size", "32", "--warmup", "1",
                               "--iters", "2", "--json", str(report)], timeout=120)
    found = figures(proc.stdout)
    assert list(found) == ["train-step"]
    median, mean, unit, details = found["train-step"]
    assert unit == "s/iter" and median > 0 and mean > 0
    assert "n=2" in details and "model=cycle_gan" in details and "netG=resnet_9blocks" in details
    data = json.loads(report.read_text())
    (figure,) = data["figures"]
    assert figure["name"] == "train-step" and len(figure["samples"]) == 2 and all(t > 0 for t in figure["samples"])
    assert figure["median"] == pytest.approx(median, abs=1e-4)
    assert data["environment"]["device"] == "cpu"


def test_inference_prints_images_per_second_model_level_and_through_test_py() -> None:
    proc = run_script(SCRIPT, ["inference", *TINY_MODEL, "--size", "32", "--batch_sizes", "1", "2",
                               "--warmup", "1", "--iters", "2", "--e2e_images", "5"], timeout=120)
    found = figures(proc.stdout)
    assert set(found) == {"inference model batch=1", "inference model batch=2",
                          "inference test.py batch=1", "inference test.py batch=2"}
    for name, (median, mean, unit, _) in found.items():
        assert unit == "images/s" and median > 0 and mean > 0, name
    # batch 1 reports every 5th image: 0 and 5 of 6; batch 2 every batch: 0, 2, 4, 6 of 8
    assert "n=1" in found["inference test.py batch=1"][3] and "num_test=6" in found["inference test.py batch=1"][3]
    assert "n=3" in found["inference test.py batch=2"][3] and "num_test=8" in found["inference test.py batch=2"][3]


def test_monitoring_compares_visdom_html_tensorboard_with_all_off() -> None:
    proc = run_script(SCRIPT, ["monitoring", *TINY_MODEL, "--size", "32", "--iters", "6", "--freq", "2"],
                      timeout=180)
    found = figures(proc.stdout)
    for kind in ("loss_log time", "wall", "wall total"):
        on, off, diff = (found[f"monitoring {state} {kind}"] for state in ("on ", "off", "diff"))
        assert on[0] > 0 and off[0] > 0 and on[2] == off[2] == diff[2] == "s/iter"
        assert diff[0] == pytest.approx(on[0] - off[0], abs=2e-4)
        assert diff[1] == pytest.approx(on[1] - off[1], abs=2e-4)
    on_details = found["monitoring on  loss_log time"][3]
    windows = int(re.search(r"visdom_windows=(\d+)", on_details).group(1))
    assert windows > 0 and "html=True" in on_details
    assert "visdom=False" in found["monitoring off loss_log time"][3]


def load_benchmark() -> ModuleType:
    return importlib.import_module("scripts.benchmark")


def test_bad_flags_are_named_before_any_work(capsys: pytest.CaptureFixture) -> None:
    benchmark = load_benchmark()
    with pytest.raises(SystemExit) as exited:
        benchmark.main(["train-step", "--iters", "0"])
    assert exited.value.code == 2 and "--iters: must be at least 1" in capsys.readouterr().err
    with pytest.raises(UserError, match="--iters: 4 iterations give 0 loss lines"):
        benchmark.main(["monitoring", "--iters", "4", "--freq", "5"])
    with pytest.raises(UserError, match="--e2e_images"):
        benchmark.main(["inference", "--batch_sizes", "1", "--e2e_images", "3"])
    with pytest.raises(UserError, match="--device: expected cpu, cuda or cuda:N"):
        benchmark.main(["inference", "--device", "gpu"])
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            benchmark.main(["train-step", "--device", "cuda"])
    assert capsys.readouterr().out == ""  # nothing was measured


def test_train_step_variants_count_flops_and_time_a_reference_checkout_side_by_side(tmp_path: Path) -> None:
    """--reference DIR runs DIR's own train step in a subprocess; this checkout has the reference's API, so it
    stands in for one here."""
    proc = run_script(SCRIPT, ["train-step", *TINY_MODEL, "--ndf", "8", "--crop_size", "32", "--warmup", "0",
                               "--iters", "1", "--variants", "fp32", "bf16", "--reference",
                               str(Path(__file__).resolve().parents[1]), "--rounds", "1"], timeout=300)
    found = figures(proc.stdout)
    assert list(found) == ["train-step", "train-step bf16", "train-step reference", "train-step ours/reference"]
    for name in ("train-step", "train-step bf16"):
        details = dict(item.split("=", 1) for item in found[name][3].split(", "))
        assert float(details["GFLOP/iter"]) > 0 and float(details["TFLOP/s"]) > 0
        assert details["of peak"].endswith("%") and float(details["peak MiB"]) > 0
    assert found["train-step reference"][0] > 0
    ratio = found["train-step ours/reference"][0]
    assert ratio == pytest.approx(found["train-step"][0] / found["train-step reference"][0], rel=1e-3)


def test_train_e2e_times_train_py_and_a_reference_checkout_between_loss_lines(tmp_path: Path) -> None:
    """Both train.py runs (this checkout standing in for the reference) print one loss line per image: the
    intervals between them, the start-up and the ratio of the medians are reported."""
    report = tmp_path / "e2e.json"
    proc = run_script(SCRIPT, ["train-e2e", *TINY_MODEL, "--ndf", "8", "--crop_size", "32", "--warmup", "1",
                               "--iters", "2", "--num_threads", "1", "--reference",
                               str(Path(__file__).resolve().parents[1]), "--rounds", "1", "--json", str(report)],
                      timeout=300)
    found = figures(proc.stdout)
    assert list(found) == [f"train.py {who} {what}" for who in ("ours", "reference")
                           for what in ("wall", "first line", "total")] + ["train.py ours/reference"]
    samples = {f["name"]: f["samples"] for f in json.loads(report.read_text())["figures"]}
    assert len(samples["train.py ours wall"]) == len(samples["train.py reference wall"]) == 2
    assert 0 < found["train.py ours first line"][0] < found["train.py ours total"][0]
    ratio = found["train.py ours/reference"][0]
    assert ratio == pytest.approx(found["train.py ours wall"][0] / found["train.py reference wall"][0], rel=1e-3)


def test_ddp_reports_images_per_second_per_process_and_the_scaling() -> None:
    proc = run_script(SCRIPT, ["ddp", *TINY_MODEL, "--ndf", "8", "--crop_size", "32", "--warmup", "0",
                               "--iters", "2", "--nproc", "2"], timeout=600)
    found = figures(proc.stdout)
    assert list(found) == ["ddp 1 process(es)", "ddp 2 process(es)", "ddp scaling efficiency"]
    one, two = found["ddp 1 process(es)"][0], found["ddp 2 process(es)"][0]
    assert one > 0 and two > 0 and "processes=2" in found["ddp 2 process(es)"][3]
    assert found["ddp scaling efficiency"][0] == pytest.approx(two / one, rel=1e-3)
