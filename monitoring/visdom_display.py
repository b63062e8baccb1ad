"""The Visdom connection and windows of the Visdom sink: the reference's windows, without its habit of starting
servers.

Every request has a short timeout. When no server answers, one warning says how to start one (in a way that
works offline) or how to turn the display off, and training goes on; the connection is tried again at most
every ``retry_seconds`` and picks up where it left off (the whole loss history is re-sent with each plot).
"""
from __future__ import annotations

import logging
import time
from typing import Any, List, Mapping, Sequence

import numpy as np
import requests
import visdom

from monitoring.history import MetricHistory
from monitoring.visdom_server import start_command
from util.util import same_size

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0       # seconds to open a connection to the server
READ_TIMEOUT = 10.0         # seconds to wait for its answer
RETRY_SECONDS = 30.0        # how often a lost server is tried again


class _Client(visdom.Visdom):
    """A Visdom client that raises on connection problems and never waits longer than the timeouts.

    It has no incoming socket (the training loop needs no events from the browser), so creating it sends
    nothing; ``probe`` is the first request.
    """

    def __init__(self, server: str, port: int, env: str, timeout: Any) -> None:
        # send=False keeps the base constructor from contacting the server; sending is enabled right after.
        super().__init__(server=server, port=port, env=env, raise_exceptions=True, use_incoming_socket=False,
                         send=False)
        self.send = True
        self.timeout = timeout
        self._session = requests.Session()

    def _handle_post(self, url: str, data: Any = None) -> str:
        response = self._session.post(url, data={} if data is None else data, timeout=self.timeout)
        response.raise_for_status()
        return response.text

    def probe(self) -> None:
        """Register the environment; raises ConnectionError when the server does not answer properly."""
        self._send({"eid": self.env}, endpoint="env/" + self.env)


class VisdomDisplay:
    """Windows of one run: losses in ``display_id``, images in ``display_id + 1`` (and labels in ``+ 2``)."""

    def __init__(self, name: str, display_id: int, server: str, port: int, env: str, ncols: int,
                 retry_seconds: float = RETRY_SECONDS, timeout: Any = (CONNECT_TIMEOUT, READ_TIMEOUT)) -> None:
        self.name = name
        self.display_id = display_id
        self.ncols = ncols
        self.address = f"{server}:{port}"
        self.port = port
        self.retry_seconds = retry_seconds
        self.client = _Client(server, port, env, timeout)
        self.connected = False
        self._next_try = 0.0
        if self._connect():
            logger.info("showing training progress on Visdom at %s (env %s)", self.address, env)
        else:
            logger.warning(
                "Could not connect to a Visdom server at %s; training goes on without it.\n"
                "To watch training, start a server in another terminal:\n  %s\n"
                "(this form starts without internet; `python -m visdom.server -port %d` also fetches the page's "
                "scripts on its first start), then open %s. To turn this display off, pass --display_id 0. "
                "Trying again every %.0f s.",
                self.address, start_command(self.port), self.port, self.address,
                self.retry_seconds)

    def _connect(self) -> bool:
        try:
            self.client.probe()
        except (ConnectionError, requests.RequestException):
            self.connected = False
            self._next_try = time.monotonic() + self.retry_seconds
            return False
        self.connected = True
        return True

    def _available(self) -> bool:
        """Connected, or reconnected now that the retry interval has passed."""
        if self.connected:
            return True
        if time.monotonic() < self._next_try:
            return False
        if self._connect():
            logger.info("reconnected to the Visdom server at %s", self.address)
            return True
        return False

    def _run(self, action: Any) -> None:
        if not self._available():
            return
        try:
            action()
        except (ConnectionError, requests.RequestException) as err:
            self.connected = False
            self._next_try = time.monotonic() + self.retry_seconds
            logger.warning("lost the connection to the Visdom server at %s (%s); training goes on, "
                           "trying again every %.0f s", self.address, err.__class__.__name__, self.retry_seconds)

    def show_images(self, images: Mapping[str, np.ndarray]) -> None:
        """H x W x 3 uint8 images by label: one grid panel plus a label table, or one window per image."""
        self._run(lambda: self._show_images(images))

    def plot_losses(self, xs: Sequence[float], ys: Sequence[Sequence[float]], legend: List[str]) -> None:
        """The whole loss history as one line per loss, x = epoch + fraction of the epoch."""
        self._run(lambda: self._plot_losses(xs, ys, legend))

    def show_previews(self, rows: Sequence[Mapping[str, np.ndarray]], epoch: int) -> None:
        """The preview images, one row per preview image, in window ``{display_id}_previews``."""
        self._run(lambda: self._show_previews(rows, epoch))

    def plot_metrics(self, history: MetricHistory) -> None:
        """Every validation metric against the epoch, one line each, in window ``{display_id}_metrics``."""
        self._run(lambda: self._plot_metrics(history))

    def _show_previews(self, rows: Sequence[Mapping[str, np.ndarray]], epoch: int) -> None:
        arrays = same_size([image for row in rows for image in row.values()])
        self.client.images(np.stack([im.transpose(2, 0, 1) for im in arrays]), nrow=len(rows[0]),
                           win=f"{self.display_id}_previews", padding=2,
                           opts={"title": f"{self.name} previews, epoch {epoch} ({', '.join(rows[0])})"})

    def _plot_metrics(self, history: MetricHistory) -> None:
        names = history.names()
        series = [history.series(name) for name in names]
        self.client.line(X=np.stack([np.asarray(xs, dtype=np.float64) for xs, _ in series], axis=1),
                         Y=np.stack([np.asarray(ys, dtype=np.float64) for _, ys in series], axis=1),
                         win=f"{self.display_id}_metrics",
                         opts={"title": f"{self.name} validation metrics", "legend": names, "xlabel": "epoch",
                               "ylabel": "value"})

    def _show_images(self, images: Mapping[str, np.ndarray]) -> None:
        labels = list(images)
        arrays = same_size(list(images.values()))
        if self.ncols > 0:
            ncols = min(self.ncols, len(arrays))
            height, width = arrays[0].shape[:2]
            chw = [im.transpose(2, 0, 1) for im in arrays]
            white = np.full_like(chw[0], 255)
            while len(chw) % ncols:
                chw.append(white)
            rows = ["".join(f"<td>{label}</td>" for label in labels[i:i + ncols]) for i in range(0, len(labels), ncols)]
            table_css = ("table {border-collapse: separate; border-spacing: 4px; white-space: nowrap; "
                         "text-align: center} "
                         f"table td {{width: {width}px; height: {height}px; padding: 4px; outline: 4px solid black}}")
            self.client.images(np.stack(chw), nrow=ncols, win=self.display_id + 1, padding=2,
                               opts={"title": f"{self.name} images"})
            self.client.text(f"<style>{table_css}</style><table>{''.join(f'<tr>{r}</tr>' for r in rows)}</table>",
                             win=self.display_id + 2, opts={"title": f"{self.name} labels"})
        else:
            for index, (label, image) in enumerate(zip(labels, arrays), start=1):
                self.client.image(image.transpose(2, 0, 1), win=self.display_id + index, opts={"title": label})

    def _plot_losses(self, xs: Sequence[float], ys: Sequence[Sequence[float]], legend: List[str]) -> None:
        x = np.asarray(xs, dtype=np.float64)
        self.client.line(X=np.stack([x] * len(legend), axis=1), Y=np.asarray(ys, dtype=np.float64),
                         win=self.display_id,
                         opts={"title": f"{self.name} loss over time", "legend": list(legend),
                               "xlabel": "epoch", "ylabel": "loss"})

