"""All file output of a run goes through here.

Writes are atomic (temporary file in the same folder, fsync, rename) so a crash never leaves a half-written
checkpoint, page or log. ``is_main_process`` is the single switch that a multi-process run uses to let only
one process write.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, IO, Union

import torch

PathLike = Union[str, os.PathLike]


def is_main_process() -> bool:
    """True in a single-process run, or in rank 0 of a distributed one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def mkdirs(*paths: PathLike) -> None:
    """Create each folder (and its parents) if it is missing."""
    for path in paths:
        Path(path).mkdir(parents=True, exist_ok=True)


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` to ``path`` atomically."""
    atomic_write(path, lambda f: torch.save(obj, f))


def append_text(path: PathLike, text: str) -> None:
    """Append ``text`` to a log file (appends are not rewritten, so a crash loses at most this line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
