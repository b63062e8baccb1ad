"""Helper processes (Visdom servers, browsers) that benchmarks and tests start: a port for them, and stopping them."""
from __future__ import annotations

import socket
import subprocess
from typing import Optional


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: Optional[subprocess.Popen], timeout: float = 10) -> None:
    """Terminate ``proc`` if it still runs; kill it if it has not ended after ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
