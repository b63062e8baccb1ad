"""scripts/recipes/: each tutorial's command lines, the full recipe as printed, and a --quick run on the CPU."""
from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_script

RECIPES = ["facades", "maps", "horse2zebra", "apple2orange", "vangogh2photo", "grayscale_facades"]
HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def recipe_of(name: str):
    return importlib.import_module(f"scripts.recipes.{name}").RECIPE


def test_full_recipes_keep_the_tutorials_commands(caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--dry_run prints the real download (the dataset is not here) and the tutorial's flags, unchanged."""
    from scripts.recipes import recipe as runner

    monkeypatch.setattr(runner, "setup_logging", lambda: None)  # keep pytest's logging set-up

    expected = {
        "facades": ["download_pix2pix_dataset.sh facades", "--model pix2pix --direction BtoA"],
        "maps": ["download_pix2pix_dataset.sh maps", "--direction BtoA --n_epochs 100 --n_epochs_decay 100"],
        "horse2zebra": ["download_cyclegan_dataset.sh horse2zebra", "--keep_last 5 --use_tensorboard"],
        "apple2orange": ["download_cyclegan_dataset.sh apple2orange", "scripts/export.py --name "
                         "apple2orange_cyclegan --net G_A G_B", "scripts/translate.py --model ./checkpoints/"
                         "apple2orange_cyclegan/apple2orange_cyclegan_latest_net_G_A.pt --input "
                         "./datasets/apple2orange/testA"],
        "vangogh2photo": ["download_cyclegan_dataset.sh vangogh2photo", "--preprocess scale_shortside_and_crop"],
        "grayscale_facades": ["download_pix2pix_dataset.sh facades", "--input_nc 1 --output_nc 1"],
    }
    for name in RECIPES:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="recipe"):
            runner.run_recipe(recipe_of(name), ["--dry_run"])
        out = caplog.text
        for text in expected[name]:
            assert text in out, (name, text)
        assert "--gpu_ids -1" not in out and "step 1/" in out and "recipe done" not in out


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_quick_recipe_runs_on_the_cpu(name: str, tmp_path: Path) -> None:
    if name == "horse2zebra" and not HAS_TENSORBOARD:
        pytest.skip("the horse2zebra recipe uses --use_tensorboard (pip install tensorboard)")
    recipe = recipe_of(name)
    proc = run_script(f"scripts/recipes/{name}.py", ["--quick", "--quick_dir", str(tmp_path / "toy"),
                                                     "--checkpoints_dir", str(tmp_path / "ckpt"),
                                                     "--results_dir", str(tmp_path / "results")], cwd=tmp_path)
    assert "download" not in proc.stdout and "recipe done" in proc.stdout
    run = f"{recipe.name}_quick"
    assert (tmp_path / "ckpt" / run / "latest_net_G_A.pth").is_file() or \
        (tmp_path / "ckpt" / run / "latest_net_G.pth").is_file()
    images = tmp_path / "results" / run / "test_latest" / "images"
    assert (tmp_path / "results" / run / "test_latest" / "index.html").is_file()
    if name == "grayscale_facades":  # one channel out, saved as RGB with three equal channels like the reference
        fake = np.asarray(Image.open(next(images.glob("*_fake_B.png"))).convert("RGB")).astype(int)
        assert (fake[..., 0] == fake[..., 1]).all() and (fake[..., 1] == fake[..., 2]).all() and fake.std() > 0
    if name == "vangogh2photo":  # the 3:2 paintings keep their aspect ratio through the test
        assert Image.open(next(images.glob("*_fake_B.png"))).size == (48, 32)
    if name == "horse2zebra":
        assert list((tmp_path / "ckpt" / run / "tensorboard").glob("events.out.tfevents.*"))
    if name == "apple2orange":
        assert (tmp_path / "ckpt" / run / f"{run}_latest_net_G_B.pt").is_file()
        translated = sorted((tmp_path / "results" / run / "translated").glob("*.png"))
        assert len(translated) == 2 and Image.open(translated[0]).size == (64, 64)
