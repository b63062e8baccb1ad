"""Stopping helper processes (Visdom servers, browsers) that benchmarks and tests start."""
from __future__ import annotations

import subprocess
from typing import Optional


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
