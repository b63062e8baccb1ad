"""Shared test helpers: tiny real image datasets, running the real command-line scripts, a real Visdom server."""
from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch
from PIL import Image

from monitoring.visdom_server import VisdomServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures" / "official"


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # one test worker per core (scripts/run_tests.sh): in-process torch work takes one thread, like the scripts
    torch.set_num_threads(1)

# A test that starts a Python process (torch's import alone takes seconds), a server or a browser is slow; so is
# one marked by hand. `pytest -m "not slow"` runs the rest, the fast unit tests, in seconds.
SLOW_CALLS = ("run_script(", "start_script(", "capture_page(", "visdom_server", "VisdomServer(", "watched_run")


LONGEST_FIRST = ("test_quickstart.py", "test_distributed.py")  # each of their slow tests trains for 20 s to 2 min


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        function = getattr(item, "function", None)
        try:
            source = inspect.getsource(function) if function is not None else ""
        except (OSError, TypeError):
            source = ""
        if any(call in source for call in SLOW_CALLS):
            item.add_marker(pytest.mark.slow)
    # the longest tests first, the unit tests last: under pytest-xdist the workers then finish together instead of
    # one of them running a minute-long quick start alone at the end
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, rank.get(item.path.name, len(rank))))


def needs_fixture(path: Path, what: str = "reference fixture") -> pytest.MarkDecorator:
    """Skip when ``path`` is absent, except in CI (``CI=true``), where the test runs and fails on the missing file."""
    return pytest.mark.skipif(not path.exists() and not IN_CI, reason=f"{what} {path} is absent")


def write_image(path: Path, size=(40, 40), seed: int = 0, mode: str = "RGB") -> Path:
    """A small image with structure (a gradient plus a square) so that every crop differs."""
    rng = np.random.RandomState(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)),
                    np.full_like(xx, rng.randint(0, 255))], axis=-1).astype(np.uint8)
    x0, y0 = rng.randint(0, w // 2), rng.randint(0, h // 2)
    img[y0:y0 + h // 3, x0:x0 + w // 3] = rng.randint(0, 255, size=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).convert(mode).save(path)
    return path


def make_unaligned(root: Path, n: int = 4, size=(40, 40)) -> Path:
    for phase in ("train", "test"):
        for side, offset in (("A", 0), ("B", 100)):
            for i in range(n):
                write_image(root / f"{phase}{side}" / f"{side.lower()}{i}.png", size, seed=offset + i)
    return root


def make_aligned(root: Path, n: int = 4, size=(40, 40)) -> Path:
    w, h = size
    for phase in ("train", "val", "test"):
        for i in range(n):
            a = Image.open(write_image(root / "tmp" / "a.png", size, seed=i))
            b = Image.open(write_image(root / "tmp" / "b.png", size, seed=50 + i)).transpose(Image.FLIP_LEFT_RIGHT)
            ab = Image.new("RGB", (2 * w, h))
            ab.paste(a, (0, 0))
            ab.paste(b, (w, 0))
            (root / phase).mkdir(parents=True, exist_ok=True)
            ab.save(root / phase / f"{i}.png")
    for p in (root / "tmp").iterdir():
        p.unlink()
    (root / "tmp").rmdir()
    return root


@pytest.fixture
def float64():
    """float64 as the default dtype for one test: the reference's float64 traces match to 1e-6 on any CPU."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def unaligned_root(tmp_path: Path) -> Path:
    return make_unaligned(tmp_path / "unaligned")


@pytest.fixture
def aligned_root(tmp_path: Path) -> Path:
    return make_aligned(tmp_path / "aligned")


def script_command(script: str, args: List[str], env: Optional[dict] = None) -> Tuple[List[str], Dict[str, str]]:
    """The command line and environment every test runs a script with.

    One intra-op thread per script: tests run scripts one after another on small inputs, where more thrash; and
    the number of threads changes float rounding, so two runs compared bitwise must use the same number.
    """
    # PYTHONPATH: the scripts import this checkout, even where the venv has another one installed
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
                **(env or {})}
    return [sys.executable, str(ROOT / script), *args], full_env


def start_script(script: str, args: List[str], env: Optional[dict] = None, **popen: Any) -> subprocess.Popen:
    """Start ``python ROOT/script args`` in the background, as ``run_script`` runs it."""
    command, full_env = script_command(script, args, env)
    return subprocess.Popen(command, cwd=ROOT, env=full_env, **popen)


def run_script(script: str, args: List[str], cwd: Optional[Path] = None, check: bool = True,
               timeout: float = 600, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run ``python ROOT/script args`` as a user would; fail with its output when ``check`` and it fails."""
    command, full_env = script_command(script, args, env)
    proc = subprocess.run(command, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)} exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return proc


def latest_weights(folder: Path) -> Dict[str, dict]:
    """The ``latest`` networks of a run folder, by file name."""
    return {p.name: torch.load(p, weights_only=True) for p in sorted(folder.glob("latest_net_*.pth"))}


def assert_same_weights(a: dict, b: dict) -> None:
    """Bitwise equality of two ``latest_weights()`` results (and that there is something to compare)."""
    assert a.keys() == b.keys() and a
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}:{key} differs"


TINY_TEST = ["--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--load_size", "36", "--crop_size", "32",
             "--num_threads", "0"]
TINY = TINY_TEST + ["--display_id", "0"]  # training adds the display flags


@pytest.fixture(scope="module")
def visdom_server(tmp_path_factory):
    server = VisdomServer(tmp_path_factory.mktemp("visdom_env"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytorch-fid's FID Inception with random weights, saved as its weights file is (a plain state dict).

    Kaiming-normal convolutions keep the activations of the 94 layers at a useful scale, so sets differ in FID.
    """
    from unittest import mock

    import pytorch_fid.inception as fid_inception
    import torch

    torch.manual_seed(0)
    with mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *_, **__: {}), \
            mock.patch.object(torch.nn.Module, "load_state_dict", lambda *_, **__: None):
        network = fid_inception.fid_inception_v3()
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight)
    path = tmp_path_factory.mktemp("inception") / "random_inception.pth"
    torch.save(network.state_dict(), path)
    return path


def no_weights_env(tmp_path: Path) -> Dict[str, str]:
    """No flag, no variable, and an empty torch hub cache: no weights anywhere."""
    return {"IMG2IMG_INCEPTION_WEIGHTS": "", "TORCH_HOME": str(tmp_path / "empty_torch_home")}
