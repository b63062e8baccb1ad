"""All file output of a run goes through here, and so does reading back the checkpoints it writes.

Writes are atomic (temporary file in the same folder, fsync, rename) so a crash never leaves a half-written
checkpoint, page or log; a checkpoint set (several files) is committed as one step through a journal.
``is_main_process`` is the single switch that a multi-process run uses to let only one process write.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from util.errors import UserError


PathLike = Union[str, os.PathLike]

TMP_SUFFIX = ".tmp"
JOURNAL_NAME = ".save_journal.json"  # present only while a committed set is being renamed into place
FAULT_ENV = "IMG2IMG_TEST_FAULT"  # test-only, see _FaultInjection


class DiskFullError(UserError):
    """The disk filled up during a write; nothing was replaced."""


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
    """Append ``text`` to a log file (appends are not rewritten, so a crash loses at most this line).

    A full disk is a DiskFullError naming the folder: the error of the buffered write comes without a file name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise DiskFullError(f"disk full: no space left in {path.parent} to append to {path.name}") from err


def atomic_write_group(items: Iterable[Tuple[PathLike, Callable[[IO[bytes]], Any]]]) -> None:
    """Write several files as one set (a checkpoint): after a crash at any point, either all or none are new.

    Every file goes to a temporary name first and is fsynced. For a set of two or more, a journal naming the
    (temporary -> final) renames is then written and fsynced: from that moment the save is committed, and
    ``recover_interrupted_saves`` finishes the renames if the process dies before it does them itself. Files of
    a set must share one folder (the journal's). A full disk before the commit raises DiskFullError and
    replaces nothing.
    """
    items = [(Path(path), write) for path, write in items]
    if not items:
        return
    folder = items[0][0].parent
    is_set = len(items) > 1
    if is_set and any(path.parent != folder for path, _ in items):
        raise ValueError("the files of a checkpoint set must share one folder")
    folder.mkdir(parents=True, exist_ok=True)
    staged: List[Tuple[Path, Path]] = []
    committed = False
    try:
        mode = 0o666 & ~_umask()  # mkstemp creates 0600; give the file the mode a plain open() would
        for path, write in items:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=folder)
            staged.append((Path(tmp), path))
            with os.fdopen(fd, "wb") as f:
                write(_fault.wrap(f) if is_set else f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
        if is_set:
            journal = {"renames": [[tmp.name, path.name] for tmp, path in staged]}
            _write_durably(folder / JOURNAL_NAME, json.dumps(journal).encode("utf-8"))
            committed = True
        for tmp, path in staged:
            os.replace(tmp, path)
            if is_set:
                _fault.renamed()
        _fsync_dir(folder)
        if is_set:
            os.unlink(folder / JOURNAL_NAME)
    except OSError as err:
        if committed or err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise DiskFullError(f"disk full: no space left in {folder} to write {items[0][0].name}"
                            f"{f' and {len(items) - 1} more file(s)' if is_set else ''}; nothing was replaced, "
                            f"the files already there are intact") from err
    finally:
        if not committed:  # before the commit the temporary files are garbage; after it they are the new set
            for tmp, _ in staged:  # (those already renamed are gone)
                _unlink_quietly(tmp)


def recover_interrupted_saves(folder: PathLike) -> List[str]:
    """Finish a committed save that a crash interrupted, then delete temporary files of uncommitted ones.

    Call it only while holding the folder's run lock (util.runlock): another process's save in progress looks
    exactly like an interrupted one. Returns one line per repair, for the log.
    """
    folder = Path(folder)
    done: List[str] = []
    journal = folder / JOURNAL_NAME
    if journal.is_file():
        renames = json.loads(journal.read_text(encoding="utf-8"))["renames"]
        finished = []
        for tmp_name, final_name in renames:
            if (folder / tmp_name).exists():  # else the crash came after this rename
                os.replace(folder / tmp_name, folder / final_name)
                finished.append(final_name)
        _fsync_dir(folder)
        journal.unlink()
        _fsync_dir(folder)
        done.append(f"completed an interrupted save in {folder} ({', '.join(finished) or 'all renames were done'})")
    stray = sorted(p for p in folder.glob(f".*{TMP_SUFFIX}") if p.is_file()) if folder.is_dir() else []
    if stray:
        size = sum(p.stat().st_size for p in stray)
        for path in stray:
            _unlink_quietly(path)
        done.append(f"removed {len(stray)} temporary file(s) of an interrupted save ({size / 1e6:.1f} MB) "
                    f"in {folder}")
    return done


def check_writable_dir(path: PathLike) -> Optional[str]:
    """Why the run cannot write below ``path`` (None when it can): not a folder, or not writable.

    A missing folder is judged by its nearest existing parent, where it would be created. Writability is
    tried for real (a temporary file made and deleted): permission bits say nothing about a read-only mount,
    and root ignores them.
    """
    path = Path(path).absolute()
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder" if existing == path else f"{existing} (a parent of {path}) is not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        return f"cannot write in {existing}: {err.strerror or err}"
    return None


def _write_durably(path: Path, data: bytes) -> None:
    """Write a small file under a temporary name, fsync it, rename it into place and fsync the folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(Path(tmp))
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class _FaultInjection:
    """TEST-ONLY fault injection for checkpoint sets, driven by the environment variable ``IMG2IMG_TEST_FAULT``.

    ``rename:K`` ends the process (os._exit, like kill -9) right after the K-th rename of a set file,
    ``write:K`` ends it halfway through writing the K-th set file, ``enospc:K`` makes that write fail with
    "no space left on device". K counts set files over the whole process (a cycle_gan save has 5).
    Unset, it does nothing; it never affects single-file writes (pages, options).
    """

    EXIT_STATUS = 137  # what a shell reports for kill -9

    def __init__(self, spec: str) -> None:
        self.kind, self.at = "", 0
        if spec:
            kind, _, at = spec.partition(":")
            if kind not in ("rename", "write", "enospc") or not at.isdigit():
                raise ValueError(f"{FAULT_ENV}={spec!r}: expected rename:K, write:K or enospc:K")
            self.kind, self.at = kind, int(at)
        self.renames = 0
        self.writes = 0

    def renamed(self) -> None:
        self.renames += 1
        if self.kind == "rename" and self.renames == self.at:
            os._exit(self.EXIT_STATUS)

    def wrap(self, f: IO[bytes]) -> IO[bytes]:
        self.writes += 1
        if self.kind in ("write", "enospc") and self.writes == self.at:
            return _FaultyFile(f, self.kind)
        return f


class _FaultyFile:
    """A file whose first write stops halfway: the process dies (``write``) or the disk is full (``enospc``)."""

    def __init__(self, f: IO[bytes], kind: str) -> None:
        self.f, self.kind = f, kind

    def write(self, data: bytes) -> int:
        self.f.write(bytes(data)[: len(data) // 2])
        self.f.flush()
        if self.kind == "write":
            os._exit(_FaultInjection.EXIT_STATUS)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)


_fault = _FaultInjection(os.environ.get(FAULT_ENV, ""))


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
