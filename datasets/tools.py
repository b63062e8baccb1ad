"""What the dataset-preparation scripts in datasets/ share: list, pair, join and save images, in parallel.

Pairs are matched by file stem and processed in sorted order (the reference paired by listing order or by
index, so which files were paired and which subset ``--num_imgs`` kept depended on the filesystem).
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from PIL import Image

from data.image_folder import is_image_file, load_image
from util.errors import ImageReadError
from util.util import save_image

logger = logging.getLogger(__name__)


def list_images(folder: Path) -> List[Path]:
    """Image files directly inside ``folder`` (not below it; hidden files skipped), sorted by name."""
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and is_image_file(p.name) and not p.name.startswith(".")), key=lambda p: p.name)


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """One RGB image with ``left`` then ``right``: the A|B layout of aligned datasets."""
    canvas = Image.new("RGB", (left.width + right.width, max(left.height, right.height)))
    canvas.paste(left.convert("RGB"), (0, 0))
    canvas.paste(right.convert("RGB"), (left.width, 0))
    return canvas


@dataclass
class Pairing:
    """Result of matching two file lists by key: the pairs in key order and what could not be paired."""

    pairs: List[Tuple[str, Path, Path]] = field(default_factory=list)   # (key, A file, B file)
    only_a: List[Path] = field(default_factory=list)
    only_b: List[Path] = field(default_factory=list)
    duplicates: List[Path] = field(default_factory=list)                # files whose key another file has


def _index(files: Iterable[Path], key: Callable[[Path], str], duplicates: List[Path]) -> Dict[str, Path]:
    index: Dict[str, Path] = {}
    clashing = set()
    for path in files:
        k = key(path)
        if k in index:
            clashing.add(k)
            duplicates.append(path)
        else:
            index[k] = path
    for k in clashing:
        duplicates.append(index.pop(k))
    return index


def pair_by_stem(a_files: Sequence[Path], b_files: Sequence[Path],
                 key_a: Callable[[Path], str] = lambda p: p.stem,
                 key_b: Callable[[Path], str] = lambda p: p.stem) -> Pairing:
    """Match A and B files whose keys (default: stems) are equal; a key held by two files pairs neither."""
    result = Pairing()
    index_a = _index(a_files, key_a, result.duplicates)
    index_b = _index(b_files, key_b, result.duplicates)
    for k in sorted(index_a):
        if k in index_b:
            result.pairs.append((k, index_a[k], index_b[k]))
        else:
            result.only_a.append(index_a[k])
    result.only_b = [index_b[k] for k in sorted(index_b) if k not in index_a]
    result.duplicates.sort()
    return result


def join_pair(a_path: Path, b_path: Path, out_path: Path) -> Optional[str]:
    """Write A|B to ``out_path``; return why the pair was skipped (unreadable, sizes differ), or None."""
    try:
        a = load_image(str(a_path), "RGB")
        b = load_image(str(b_path), "RGB")
    except ImageReadError as err:
        return str(err)
    if a.size != b.size:
        return f"{a_path.name} and {b_path.name} differ in size (A {a.width}x{a.height}, B {b.width}x{b.height})"
    save_image(side_by_side(a, b), out_path)
    return None


def _call(job: Tuple[Callable[..., Any], Tuple[Any, ...]]) -> Any:
    fn, args = job
    return fn(*args)


def run_jobs(fn: Callable[..., Any], jobs: Sequence[Tuple[Any, ...]], parallel: bool = True,
             label: str = "") -> List[Any]:
    """``[fn(*job) for job in jobs]``, in a process pool when ``parallel``; logs progress every tenth."""
    results: List[Any] = []
    step = max(1, len(jobs) // 10)
    packed = [(fn, tuple(job)) for job in jobs]
    processes = min(os.cpu_count() or 1, len(jobs))
    use_pool = parallel and processes > 1
    with Pool(processes) if use_pool else contextlib.nullcontext() as pool:
        chunksize = max(1, min(16, len(jobs) // (4 * processes or 1)))
        stream = pool.imap(_call, packed, chunksize=chunksize) if pool is not None else map(_call, packed)
        for result in stream:
            results.append(result)
            if label and len(results) % step == 0:
                logger.info("%s: %d/%d", label, len(results), len(jobs))
    return results


def names_list(paths: Sequence[Path], limit: int = 20) -> str:
    """``a.jpg, b.jpg and 3 more`` for reports."""
    shown = ", ".join(p.name for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def write_pairs(jobs: Sequence[Tuple[Path, Path, Path]], skipped: int, out_dir: Path, split: str,
                parallel: bool = True) -> int:
    """Join every planned (A, B, out) pair of one split, log each one skipped and why; return how many were written."""
    problems = run_jobs(join_pair, jobs, parallel, label=split)
    for problem in filter(None, problems):
        logger.warning("%s: skipped: %s", split, problem)
    made = sum(problem is None for problem in problems)
    skipped += len(problems) - made
    print(f"{split}: wrote {made} image(s) to {out_dir}" + (f", skipped {skipped}" if skipped else ""))
    return made
