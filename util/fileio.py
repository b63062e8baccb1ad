"""All file output of a run goes through here, and so does reading back the checkpoints it writes.

Writes are atomic (temporary file in the same folder, fsync, rename) so a crash never leaves a half-written
checkpoint, page or log. ``is_main_process`` is the single switch that a multi-process run uses to let only
one process write.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Tuple, Union

from util.errors import UserError


PathLike = Union[str, os.PathLike]


def is_main_process() -> bool:
    """True in a single-process run, or in rank 0 of a distributed one."""
    import torch  # imported here so that tools which only write images start fast

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def mkdirs(*paths: PathLike) -> None:
    """Create each folder (and its parents) if it is missing."""
    for path in paths:
        Path(path).mkdir(parents=True, exist_ok=True)


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, then rename it over ``path``."""
    atomic_write_group([(path, write)])


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` to ``path`` atomically."""
    import torch

    atomic_write(path, lambda f: torch.save(obj, f))


def check_state_dict(obj: Any, source: str) -> None:
    """UserError unless ``obj`` is a non-empty mapping of names to tensors (a network's state_dict)."""
    import torch

    if not isinstance(obj, Mapping) or not obj:
        raise UserError(f"checkpoint {source} is not a network state_dict (it holds "
                        f"{'an empty mapping' if isinstance(obj, Mapping) else type(obj).__name__})")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise UserError(f"checkpoint {source} is not a network state_dict (entry {key!r} holds "
                            f"{type(value).__name__}, not a tensor)")


def load_checkpoint_file(path: PathLike) -> Dict[str, Any]:
    """Read a ``.pth`` state_dict onto the CPU without running pickled code; a bad file is a UserError.

    The one reader of network files: checkpoints of a run and downloaded pretrained generators alike.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise UserError(f"checkpoint {p} not found")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types (EOFError, RuntimeError, UnpicklingError, ...)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise UserError(f"cannot read checkpoint {p} (truncated or not a PyTorch file?): {reason}") from err
    check_state_dict(obj, str(p))
    return dict(obj)


def append_text(path: PathLike, text: str) -> None:
    """Append ``text`` to a log file (appends are not rewritten, so a crash loses at most this line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def atomic_write_group(items: Iterable[Tuple[PathLike, Callable[[IO[bytes]], Any]]]) -> None:
    """Write several files as one checkpoint: all go to temporary names first, then all are renamed.

    A crash while writing leaves the previous set untouched; only the final renames (microseconds) can split it.
    """
    staged: List[Tuple[str, Path]] = []
    try:
        for path, write in items:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        mode = 0o666 & ~_umask()  # mkstemp creates 0600; give the file the mode a plain open() would
        for tmp, path in staged:
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        staged = []
    finally:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
