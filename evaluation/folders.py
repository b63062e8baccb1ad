"""The metrics of ``evaluation.metrics`` over image folders: a ``test.py`` results folder, or two folders.

A results folder holds ``images/{name}_{label}.png`` for every input ``name``; each translated label is
compared with its target (``fake_B`` with ``real_B``, ``fake_A`` with ``real_A``, ...), pair by pair for
L1/PSNR/SSIM and as two sets for FID/KID. Two folders pair their files by name when the names match one to
one; otherwise only FID/KID apply. The report is a dict (written as JSON) and a text table.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from data.image_folder import load_image, make_dataset
from evaluation.metrics import ALL_METRICS, DEFAULT_BATCH_SIZE, SET_METRICS, Device, Evaluator
from util.errors import UserError
from util.fileio import PathLike, atomic_write_text

logger = logging.getLogger(__name__)

# (translated, target) visual names of the models: pix2pix and cycle_gan (both directions), colorization.
RESULT_PAIRS = (("fake_B", "real_B"), ("fake_A", "real_A"), ("fake_B_rgb", "real_B_rgb"))
COLUMNS = (("l1", "L1", "{:.4f}"), ("psnr", "PSNR", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"), ("fid", "FID", "{:.2f}"))


def load_tensor(path: str) -> torch.Tensor:
    """An image file as a 3 x H x W float tensor in [0, 1] (RGB, as pytorch-fid reads files)."""
    array = np.asarray(load_image(path, "RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def batches(rows: Sequence[Tuple[str, ...]], batch_size: int) -> Iterator[List[torch.Tensor]]:
    """Rows of files (a pair, or one file) loaded as batches; a batch ends where the image size changes."""
    pending: List[List[torch.Tensor]] = []
    for row in rows:
        images = [load_tensor(p) for p in row]
        if len({tuple(im.shape) for im in images}) > 1:
            raise UserError(f"'{row[0]}' and '{row[1]}' differ in size, so they cannot be compared pixel by pixel")
        if pending and (len(pending) == batch_size or pending[-1][0].shape != images[0].shape):
            yield [torch.stack(column) for column in zip(*pending)]
            pending = []
        pending.append(images)
    if pending:
        yield [torch.stack(column) for column in zip(*pending)]


def run_comparison(evaluator: Evaluator, fake: Sequence[str], real: Sequence[str], paired: bool,
                   batch_size: int) -> Dict[str, float]:
    """Metrics of fake files against real files (``paired``: ``fake[i]`` is the translation of ``real[i]``)."""
    evaluator.reset()
    if paired:
        for fake_batch, real_batch in batches(list(zip(fake, real)), batch_size):
            evaluator.update(fake_batch, real_batch)
    else:
        for (fake_batch,) in batches([(p,) for p in fake], batch_size):
            evaluator.update_fake(fake_batch)
        for (real_batch,) in batches([(p,) for p in real], batch_size):
            evaluator.update_real(real_batch)
    return evaluator.compute()


def result_pairs(results_dir: PathLike, names: Optional[Iterable[str]] = None) -> Dict[str, Tuple[List[str], List[str]]]:
    """``{"fake_B": (fake files, real files)}`` for each translated label found in a results folder.

    ``names`` limits it to those inputs (test.py passes the ones it wrote, so files of an earlier, longer run
    in the same folder are left out).
    """
    root = Path(results_dir)
    image_dir = root / "images" if (root / "images").is_dir() else root
    files = {Path(p).name: p for p in make_dataset(str(image_dir))}
    wanted = set(names) if names is not None else None
    found: Dict[str, Tuple[List[str], List[str]]] = {}
    for fake_label, real_label in RESULT_PAIRS:
        fakes: List[str] = []
        reals: List[str] = []
        for file_name, path in sorted(files.items()):
            stem, suffix = Path(file_name).stem, Path(file_name).suffix
            if not stem.endswith(f"_{fake_label}"):
                continue
            name = stem[: -len(fake_label) - 1]
            real = files.get(f"{name}_{real_label}{suffix}")
            if real is not None and (wanted is None or name in wanted):
                fakes.append(path)
                reals.append(real)
        if fakes:
            found[fake_label] = (fakes, reals)
    if not found:
        labels = ", ".join(f"{f}/{r}" for f, r in RESULT_PAIRS)
        raise UserError(f"--results: no pair of images named NAME_{{label}} ({labels}) in '{image_dir}'")
    return found


def folder_pairs(fake_dir: PathLike, real_dir: PathLike) -> Tuple[List[str], List[str], bool]:
    """The files of two folders, and whether their names match one to one (then sorted so that they pair)."""
    fake = make_dataset(str(fake_dir))
    real = make_dataset(str(real_dir))

    def names(paths: List[str], root: PathLike) -> List[str]:
        return [str(Path(p).relative_to(root).with_suffix("")) for p in paths]

    return fake, real, names(fake, fake_dir) == names(real, real_dir)


def evaluate(comparisons: Dict[str, Tuple[List[str], List[str], bool]], metrics: Sequence[str] = ALL_METRICS,
             device: Device = "cpu", inception_weights: Optional[PathLike] = None,
             batch_size: int = DEFAULT_BATCH_SIZE) -> Dict[str, Any]:
    """Run each comparison ``name: (fake files, real files, paired)``; the report that evaluate.py writes, with
    the time it took (reading the images, the Inception network and the metrics) and the device."""
    start = time.time()
    evaluator = Evaluator(metrics, device, inception_weights, batch_size)
    report: Dict[str, Any] = {"metrics": list(evaluator.metrics), "comparisons": {}}
    if evaluator.features is None and any(m in SET_METRICS for m in metrics):
        report["skipped"] = "FID and KID: no Inception weights"
    for name, (fake, real, paired) in comparisons.items():
        if not paired and evaluator.features is None:
            logger.warning("%s: the images do not pair up and FID/KID cannot run, so nothing is measured", name)
        values = run_comparison(evaluator, fake, real, paired, batch_size)
        report["comparisons"][name] = {"fake_images": len(fake), "real_images": len(real), "paired": paired,
                                       "values": values}
    report.update(seconds=time.time() - start, device=str(evaluator.device))
    return report


def evaluate_results(results_dir: PathLike, paired: bool = True, names: Optional[Iterable[str]] = None,
                     **kwargs: Any) -> Dict[str, Any]:
    """The metrics of a ``test.py`` results folder; ``paired=False`` for unaligned data (rows are not pairs).

    ``kwargs`` go to ``evaluate`` (metrics, device, inception_weights, batch_size).
    """
    found = result_pairs(results_dir, names)
    comparisons = {f"{fake_label} vs {real_label}": (*found[fake_label], paired)
                   for fake_label, real_label in RESULT_PAIRS if fake_label in found}
    return evaluate(comparisons, **kwargs)


def evaluate_folders(fake_dir: PathLike, real_dir: PathLike, paired: bool = True, **kwargs: Any) -> Dict[str, Any]:
    """The metrics of the images in ``fake_dir`` against those in ``real_dir`` (paired when the names match)."""
    fake, real, names_match = folder_pairs(fake_dir, real_dir)
    if paired and not names_match:
        logger.info("the file names of --fake and --real do not match one to one: L1, PSNR and SSIM are skipped")
    return evaluate({f"{Path(fake_dir).name} vs {Path(real_dir).name}": (fake, real, paired and names_match)},
                    **kwargs)


def summary_lines(report: Dict[str, Any]) -> Dict[str, str]:
    """One ``comparison: 'L1 0.1234, PSNR 18.20, ...'`` entry per comparison, then the time, for a page."""
    lines = {name: ", ".join(f"{label} {cell}" for label, cell in _cells(entry["values"]) if cell != "-")
             or "nothing measured" for name, entry in report["comparisons"].items()}
    lines["measured in"] = time_line(report)
    return lines


def time_line(report: Dict[str, Any]) -> str:
    """``2.31 s on cuda:0``: what the metrics cost."""
    return f"{report['seconds']:.2f} s on {report['device']}"


def format_table(report: Dict[str, Any]) -> str:
    """The report as an aligned text table, one row per comparison."""
    header = ["comparison", "images"] + [label for label, _ in _cells({})]
    rows = [header]
    for name, entry in report["comparisons"].items():
        images = str(entry["fake_images"]) if entry["fake_images"] == entry["real_images"] else \
            f"{entry['fake_images']}/{entry['real_images']}"
        rows.append([name, images] + [cell for _, cell in _cells(entry["values"])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    return "\n".join(lines)


def write_report(report: Dict[str, Any], path: PathLike) -> None:
    """The report as JSON; a non-finite value (PSNR of identical images is inf) is written as null."""
    atomic_write_text(path, json.dumps(_finite(report), indent=2) + "\n")


def _cells(values: Dict[str, float]) -> List[Tuple[str, str]]:
    cells = [(label, fmt.format(values[key]) if key in values else "-") for key, label, fmt in COLUMNS]
    kid = f"{values['kid']:.4f} ± {values['kid_std']:.4f}" if "kid" in values else "-"
    return cells + [("KID", kid)]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value

