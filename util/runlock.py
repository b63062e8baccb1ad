"""One training run per run folder: a lock file that a second train.py with the same --name is refused by.

The lock is an ``fcntl.flock`` on ``{run folder}/train.lock``, which also records who holds it (pid and host).
The kernel drops a flock when its process dies, however it dies, so a lock file left behind by a killed run
does not block the next one: that one takes the lock over and says whose it was. The file is deleted when the
run ends; a run that finds the file replaced under it (deleted by the previous holder between its open and its
flock) opens the new one instead.
"""
from __future__ import annotations

import fcntl
import logging
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import List, Optional, Type

from util.errors import UserError
from util.fileio import JOURNAL_NAME, recover_interrupted_saves

logger = logging.getLogger(__name__)

LOCK_NAME = "train.lock"


class RunLockedError(UserError):
    """Another live process holds the run folder."""


class RunLock:
    """Hold the run folder ``folder`` for this process; use as a context manager.

    The folder (and any missing parent, such as a new --checkpoints_dir) is created if missing, and removed again
    on release if this lock created it and it is still empty (a refused or failed start leaves no trace).
    """

    def __init__(self, folder: os.PathLike | str) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.fd: Optional[int] = None
        self.created: List[Path] = []  # the folders this lock created, deepest first

    def acquire(self) -> None:
        self.created = [p for p in (self.folder, *self.folder.parents) if not p.exists()]
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd) or "a process still starting up"
                os.close(fd)
                self._remove_created_folder()
                raise RunLockedError(f"run folder {self.folder} is in use by another train.py ({holder}); stop "
                                     f"it or choose another --name") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the previous holder deleted this file between our open and flock: use the new one
        previous = _read_holder(fd)
        if previous:
            logger.warning("taking over the lock of run folder %s from a process that is gone (%s)",
                           self.folder, previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode("utf-8"), 0)
        os.fsync(fd)
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # while still locked, so nobody locks the file we delete and keeps it
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None
        self._remove_created_folder()

    def _remove_created_folder(self) -> None:
        for folder in self.created:
            try:
                folder.rmdir()
            except OSError:  # not empty: the run wrote something, keep it (and the folders above it)
                break

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.release()


def finish_interrupted_save(folder: os.PathLike | str) -> None:
    """For readers without the lock (test.py): complete a save that a crashed run committed but did not finish.

    Only when no run holds the folder; a live run finishes its own save within moments.
    """
    if not (Path(folder) / JOURNAL_NAME).is_file():
        return
    try:
        with RunLock(folder):
            for repair in recover_interrupted_saves(folder):
                logger.warning("%s", repair)
    except RunLockedError:
        pass


def _read_holder(fd: int) -> str:
    """The holder line a lock file records ('' for a new, empty file)."""
    return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)
