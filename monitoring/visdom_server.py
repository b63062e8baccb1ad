"""Starting a Visdom server: the command the "no server" warning tells users to run, and the launcher that tests
and scripts/benchmark.py use to run a real server of their own.

Both start the server through ``visdom.server.run_server.main`` rather than ``python -m visdom.server``: that
form never fetches the page's scripts from the internet, so it starts offline.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import requests

from util.process import free_port, stop_process

SERVER_MAIN = "from visdom.server.run_server import main; main()"
START_SECONDS = 60.0  # a first start compiles and loads the server's modules; a loaded machine needs a while


def start_command(port: int) -> str:
    """The shell command a user runs to start a server on ``port``."""
    return f"python -c \"import sys; sys.argv=['visdom','-port','{port}']; {SERVER_MAIN}\""


class VisdomServerError(RuntimeError):
    """The server exited or did not answer while starting."""


class VisdomServer:
    """A Visdom server on 127.0.0.1 in a child process, keeping its environments in ``env_path``.

    It can be stopped and started again on the same port (to test what a run does when its server goes away).
    """

    def __init__(self, env_path: Path, port: Optional[int] = None) -> None:
        self.env_path = Path(env_path)
        self.port = free_port() if port is None else port
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_SECONDS) -> None:
        """Start the server (unless it runs) and wait until it answers."""
        if self.proc is not None and self.proc.poll() is None:
            return
        code = f"import sys; sys.argv = ['visdom'] + sys.argv[1:]; {SERVER_MAIN}"
        self.proc = subprocess.Popen([sys.executable, "-c", code, "-port", str(self.port), "-bind_local",
                                      "-env_path", str(self.env_path), "-logging_level", "WARNING"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise VisdomServerError(f"the Visdom server exited during start-up (status {self.proc.returncode})")
            try:
                # the env endpoint, not the index page (visdom 0.2.4 answers 403 there without its web assets)
                requests.post(f"{self.url}/env/probe", data=json.dumps({"eid": "probe"}), timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise VisdomServerError(f"the Visdom server on port {self.port} did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> "VisdomServer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def windows(self, env: str) -> Dict[str, dict]:
        """The windows the server holds in ``env``, by window id, as Visdom reports them."""
        response = requests.post(f"{self.url}/win_data", data=json.dumps({"eid": env, "win": None}), timeout=5)
        response.raise_for_status()
        return json.loads(response.text) if response.text else {}
