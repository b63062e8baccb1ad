"""What every recipe in this folder shares: the steps of a tutorial as command lines, run one after another.

A recipe (``scripts/recipes/maps.py`` ...) is the tutorial's command lines and nothing else. Run it from any
folder:

    python scripts/recipes/maps.py              # the tutorial: download if missing, train, test (a GPU's work)
    python scripts/recipes/maps.py --quick      # the same steps on a few toy images on the CPU, in a minute or two
    python scripts/recipes/maps.py --dry_run    # print the commands only

Each command is printed (``$ python train.py ...``) before it runs, from the repository root, so it can be
copied. ``--quick`` downloads nothing: it draws the toy dataset (datasets/make_toy_dataset.py) into
``--quick_dir``, or takes a small folder of your own with ``--dataroot``, and adds flags that shrink the run
(narrow networks, small images, one epoch of at most four images, CPU) while keeping the recipe's model,
architecture, direction and data handling, so a recipe that fails on a flag fails here first.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from PIL import Image

from data.image_folder import load_image, make_dataset
from util.cli import run_cli, setup_logging
from util.errors import UserError
from util.util import save_image

logger = logging.getLogger("recipe")

ROOT = Path(__file__).resolve().parents[2]
QUICK_IMAGES = 4  # training images per domain in a --quick run
QUICK_TRAIN = "--gpu_ids -1 --ngf 8 --ndf 8 --n_epochs 1 --n_epochs_decay 0 --num_threads 0 --display_id 0 " \
              "--print_freq 1 --seed 0"
QUICK_TEST = "--gpu_ids -1 --num_test 2"
# --quick data: the toy dataset's folder for each layout ("paintings": unpaired, A not square)
QUICK_FOLDERS = {"paired": "shapes_paired", "unpaired": "shapes", "paintings": "paintings"}


@dataclass(frozen=True)
class Recipe:
    """A tutorial's workflow. Commands are written as in the tutorial, with ``{dataroot}``, ``{name}``,
    ``{checkpoints}`` and ``{results}`` filled in when they run; train.py/test.py steps get the --quick flags."""

    name: str                   # the run's --name
    dataset: str                # datasets/<dataset>, what the download command writes
    download: str               # the download command
    train: str
    test: str
    after: Sequence[str] = ()   # further steps (export, translate), run after the test
    quick_data: str = "paired"  # a key of QUICK_FOLDERS
    quick_size: int = 32        # --crop_size of a --quick run: a multiple of the generator's size multiple
    notes: str = ""             # one line printed at the start: what the tutorial teaches


def parse_args(recipe: Recipe, argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=f"{recipe.name}: {recipe.notes}")
    parser.add_argument("--quick", action="store_true",
                        help="a CPU check of the recipe on a few images: toy data (or --dataroot), small sizes, "
                             "one epoch")
    parser.add_argument("--dry_run", action="store_true", help="print the commands without running them")
    parser.add_argument("--dataroot", default=None,
                        help=f"the dataset folder (default: ./datasets/{recipe.dataset}, downloaded if missing; "
                             f"with --quick: the toy data)")
    parser.add_argument("--quick_dir", default=None,
                        help="where --quick draws its toy data (default: ./datasets/recipes_quick in the repository)")
    parser.add_argument("--checkpoints_dir", default=None, help="passed to the steps (default: ./checkpoints)")
    parser.add_argument("--results_dir", default=None, help="passed to the steps (default: ./results)")
    return parser.parse_args(argv)


def absolute(path: str) -> str:
    """A path the user gave (relative to the current folder), made absolute: the steps run from the repository
    root, where the defaults (./datasets, ./checkpoints, ./results) are."""
    return str(Path(path).expanduser().resolve())


def steps(recipe: Recipe, opt: argparse.Namespace) -> List[List[str]]:
    """The command lines to run, in order, as argument lists (``python`` stands for this interpreter)."""
    quick_root = absolute(opt.quick_dir) if opt.quick_dir else "./datasets/recipes_quick"
    if opt.dataroot:
        dataroot = absolute(opt.dataroot)
    elif opt.quick:
        dataroot = f"{quick_root}/{QUICK_FOLDERS[recipe.quick_data]}"
    else:
        dataroot = f"./datasets/{recipe.dataset}"
    name = f"{recipe.name}_quick" if opt.quick else recipe.name
    values = {"dataroot": dataroot, "name": name,
              "checkpoints": absolute(opt.checkpoints_dir) if opt.checkpoints_dir else "./checkpoints",
              "results": absolute(opt.results_dir) if opt.results_dir else "./results"}
    dirs = {"train": ["--checkpoints_dir"], "test": ["--checkpoints_dir", "--results_dir"],
            "export": ["--checkpoints_dir"]}
    size = recipe.quick_size
    quick = {"train": f"{QUICK_TRAIN} --load_size {size * 9 // 8} --crop_size {size} "
                      f"--max_dataset_size {QUICK_IMAGES}",
             "test": f"{QUICK_TEST} --load_size {size} --crop_size {size}"}

    planned: List[List[str]] = []
    if opt.quick and not opt.dataroot:
        planned.append(["python", "datasets/make_toy_dataset.py", "--root", quick_root, "--size", "64",
                        "--n_train", str(QUICK_IMAGES), "--n_test", "2"])
    elif not opt.quick and not opt.dataroot and not (ROOT / dataroot).is_dir():
        planned.append(shlex.split(recipe.download))
    for kind, command in [("train", recipe.train), ("test", recipe.test)] + [("after", c) for c in recipe.after]:
        args = shlex.split(command.format(**values))
        script = Path(args[1]).stem if args[0] == "python" else ""
        for flag in dirs.get(script, []):
            given = opt.checkpoints_dir if flag == "--checkpoints_dir" else opt.results_dir
            if given:
                args += [flag, absolute(given)]
        if opt.quick and kind in quick:
            args += shlex.split(quick[kind])
        planned.append(args)
    return planned


def make_paintings(quick_root: Path) -> None:
    """--quick data for paintings that are not square: the toy outlines stretched to 3:2 as domain A, the toy
    filled shapes (square) as domain B."""
    for split in ("train", "test"):
        for side in ("A", "B"):
            for path in make_dataset(str(quick_root / "shapes" / f"{split}{side}")):
                image = load_image(path, "RGB")
                if side == "A":
                    image = image.resize((image.width * 3 // 2, image.height), Image.Resampling.BICUBIC)
                save_image(image, quick_root / "paintings" / f"{split}{side}" / Path(path).name)


def run_recipe(recipe: Recipe, argv: Optional[Sequence[str]] = None) -> None:
    """Print and run each step from the repository root; stop at the first that fails, with its status."""
    opt = parse_args(recipe, argv)
    setup_logging()
    planned = steps(recipe, opt)
    logger.info("%s recipe%s: %s", recipe.name, " (--quick)" if opt.quick else "", recipe.notes)
    for number, args in enumerate(planned, 1):
        logger.info("step %d/%d: $ %s", number, len(planned), shlex.join(args))
        if opt.dry_run:
            continue
        command = [sys.executable, *args[1:]] if args[0] == "python" else args
        status = subprocess.run(command, cwd=ROOT).returncode
        if status != 0:
            raise UserError(f"step {number} ({shlex.join(args[:2])}) failed with exit status {status}; the "
                            f"commands before it finished")
        if args[1:2] == ["datasets/make_toy_dataset.py"] and recipe.quick_data == "paintings":
            quick_root = ROOT / args[args.index("--root") + 1]
            logger.info("paintings that are not square: the toy outlines stretched to 3:2 in %s",
                        quick_root / "paintings")
            make_paintings(quick_root)
    if not opt.dry_run:
        logger.info("%s recipe done: results under %s", recipe.name,
                    Path(absolute(opt.results_dir) if opt.results_dir else ROOT / "results")
                    / (f"{recipe.name}_quick" if opt.quick else recipe.name))


def main(recipe: Recipe) -> None:
    """Entry point of a recipe script."""
    run_cli(lambda: run_recipe(recipe))
