"""Drive Debian's headless Chromium from tests through the DevTools protocol (no extra package needed).

The protocol is spoken over a WebSocket with ``websocket-client``, which Visdom already depends on:

    with HeadlessChromium() as browser:
        browser.open(Path("index.html").resolve().as_uri())
        broken = browser.evaluate("[...document.images].filter(i => !i.naturalWidth).length")
        browser.screenshot(Path("page.png"))
"""
from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.request import urlopen

import websocket

from util.process import stop_process

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*"]


class BrowserError(RuntimeError):
    pass


class HeadlessChromium:
    """One headless Chromium with a fresh profile and one page; ``close`` ends it and removes the profile."""

    def __init__(self, binary: Path = CHROMIUM, width: int = 1280, height: int = 900, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self.proc = subprocess.Popen([str(binary), *FLAGS, f"--user-data-dir={self.profile}",
                                      f"--window-size={width},{height}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._ids = itertools.count(1)
        self.ws: Optional[websocket.WebSocket] = None
        try:
            port = self._devtools_port()
            with urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as response:
                targets = json.load(response)
            page = next(t for t in targets if t.get("type") == "page")
            self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout)
            self.call("Page.enable")
            self.call("Runtime.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self) -> int:
        """Chromium writes the port it picked to DevToolsActivePort in the profile."""
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError(f"chromium exited with status {self.proc.returncode}")
            if port_file.exists():
                first_line = port_file.read_text().splitlines()[:1]
                if first_line and first_line[0].isdigit():
                    return int(first_line[0])
            time.sleep(0.05)
        raise BrowserError("chromium did not open its DevTools port in time")

    def call(self, method: str, **params: Any) -> Dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are dropped."""
        return self._call(method, params)[0]

    def _call(self, method: str, params: Dict[str, Any], wait_event: Optional[str] = None) -> Any:
        assert self.ws is not None
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        result, event_seen = None, wait_event is None
        deadline = time.monotonic() + self.timeout
        while result is None or not event_seen:
            if time.monotonic() > deadline:
                raise BrowserError(f"{method}: no answer in {self.timeout} s")
            message = json.loads(self.ws.recv())
            if message.get("id") == msg_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result = message.get("result", {})
            elif wait_event is not None and message.get("method") == wait_event:
                event_seen = True
        return result, event_seen

    def open(self, url: str) -> None:
        """Load ``url`` and wait for its load event (images included)."""
        result, _ = self._call("Page.navigate", {"url": url}, wait_event="Page.loadEventFired")
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")

    def evaluate(self, expression: str) -> Any:
        """Value of a JavaScript expression in the page (JSON-serialisable results only)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} raised {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path, max_height: int = 6000) -> None:
        """PNG of the whole page (up to ``max_height`` CSS pixels tall)."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], max_height), "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            finally:
                self.ws = None
        stop_process(self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "HeadlessChromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


PAGE_REPORT_JS = """({
    images: [...document.images].map(i => ({src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight,
                                           ok: i.complete && i.naturalWidth > 0,
                                           shown: i.getBoundingClientRect().width})),
    headers: [...document.querySelectorAll('h3')].map(h => h.textContent),
    lines: [...document.querySelectorAll('div.plot > svg.loss-plot polyline.loss-line')].map(
        p => ({loss: p.dataset.loss, points: p.points.numberOfItems})),
    plotWidth: [...document.querySelectorAll('div.plot > svg.loss-plot')].map(
        s => s.getBoundingClientRect().width)[0] || 0,
    metrics: [...document.querySelectorAll('div.metric-plot')].map(
        d => ({metric: d.dataset.metric, points: d.querySelector('polyline.loss-line').points.numberOfItems})),
    notes: [...document.querySelectorAll('p.note')].map(p => p.textContent),
    pageWidth: document.documentElement.scrollWidth,
    refresh: !!document.querySelector('meta[http-equiv=refresh]'),
    summary: [...document.querySelectorAll('div.summary')].map(d => d.innerText)[0] || '',
    links: [...document.querySelectorAll('a')].map(a => a.getAttribute('href')),
})"""


def page_report(browser: HeadlessChromium) -> Dict[str, Any]:
    """What a page shows: its images (loaded or not), h3 headers, loss-plot lines, refresh, summary, links."""
    return browser.evaluate(PAGE_REPORT_JS)


ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def capture_page(page: Path, screenshot: str, width: int = 1280) -> Dict[str, Any]:
    """Open a local page in headless Chromium (a window ``width`` px wide), keep a screenshot in test-artifacts/,
    return its page_report (plus ``image_tables``, the number of image rows)."""
    with HeadlessChromium(width=width) as browser:
        browser.open(page.as_uri())
        report = page_report(browser)
        report["image_tables"] = browser.evaluate("document.querySelectorAll('table.images').length")
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / screenshot)
    return report
