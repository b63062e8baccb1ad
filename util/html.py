"""A small HTML page of image rows, as the reference's util/html.py builds it, plus tables, text and inline SVG.

The page is rendered with dominate and written atomically, so a browser (or its auto-refresh) never sees a
half-written ``index.html``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import dominate
from dominate.tags import a, br, div, h3, img, meta, p, style, table, td, th, tr
from dominate.util import raw

from util.fileio import PathLike, atomic_write_text, mkdirs

PAGE_CSS = """
body { font-family: sans-serif; margin: 16px; color: #222; }
h1 { font-size: 1.4em; }
h3 { margin: 18px 0 6px; }
table.images { max-width: 100%; }
table.images td p { margin: 2px 0; }
table.images img { max-width: 100%; height: auto; image-rendering: pixelated; }
table.info { border-collapse: collapse; margin: 6px 0 12px; font-size: 0.9em; }
table.info th, table.info td { border: 1px solid #bbb; padding: 2px 8px; text-align: left; vertical-align: top; }
table.info th { background: #f0f0f0; }
div.plot { margin: 6px 0 12px; display: flex; flex-wrap: wrap; gap: 8px; }
div.plot svg { max-width: 100%; height: auto; }
p.note { color: #555; font-style: italic; }
"""
# The measured metrics of a page (test.py --eval_metrics, scripts/evaluate.py --results): one block, replaced whole
METRICS_BLOCK = re.compile(r'<div class="metrics">.*?</div>', re.DOTALL)


def fitting_width(image_width: int, max_width: int) -> int:
    """The width to show an image at: ``max_width`` (--display_winsize), but no more than twice its own width,
    so that 64 px results are not blown up to 256 px. Rows wider than the window shrink to fit (PAGE_CSS)."""
    return max(1, min(max_width, 2 * image_width))


class HTML:
    """One page: ``web_dir/index.html`` with its images in ``web_dir/images/``.

    Items appear in the order they are added, except the summary (``set_summary``) and the metrics
    (``set_metrics``), which always sit under the title so that what is known only at the end can still head
    the page.
    """

    def __init__(self, web_dir: PathLike, title: str, refresh: int = 0) -> None:
        self.web_dir = Path(web_dir)
        self.img_dir = self.web_dir / "images"
        self.title = title
        mkdirs(self.web_dir, self.img_dir)
        self.doc = dominate.document(title=title)
        with self.doc.head:
            if refresh > 0:
                meta(http_equiv="refresh", content=str(int(refresh)))
            meta(charset="utf-8")
            style(raw(PAGE_CSS))
        with self.doc:
            dominate.tags.h1(title)
            self._summary = div(cls="summary")
            self._metrics = div(cls="metrics")

    def get_image_dir(self) -> str:
        """Folder the row images must be saved in (links on the page are relative to it)."""
        return str(self.img_dir)

    def add_header(self, text: str) -> None:
        with self.doc:
            h3(text)

    def add_text(self, text: str, cls: Optional[str] = None) -> None:
        with self.doc:
            p(text, cls=cls) if cls else p(text)

    def add_table(self, rows: Iterable[Sequence[Any]], header: Optional[Sequence[str]] = None,
                  cls: str = "info") -> None:
        """A plain table of text cells (options, status, ...)."""
        with self.doc:
            self._table(rows, header, cls)

    def set_summary(self, items: Mapping[str, Any]) -> None:
        """Replace the key/value table shown right under the title."""
        self._summary.clear()
        with self._summary:
            self._table(((key, value) for key, value in items.items()), None, "info summary")

    def set_metrics(self, items: Mapping[str, Any]) -> None:
        """Replace the measured metrics shown under the summary (one line per comparison)."""
        self._metrics.clear()
        with self._metrics:
            _metrics_content(items)

    def add_svg(self, markup: str, cls: str = "plot") -> None:
        """Inline SVG (or other trusted markup produced by this package) in its own block."""
        with self.doc:
            div(raw(markup), cls=cls)

    def add_images(self, ims: Sequence[str], txts: Sequence[str], links: Sequence[str], width: int = 400) -> None:
        """One row of images (file names inside ``images/``), each captioned and linked to ``images/<link>``."""
        row_table = table(border=1, style="table-layout: fixed;", cls="images")
        self.doc.add(row_table)
        with row_table:
            with tr():
                for im, txt, link in zip(ims, txts, links):
                    with td(style="word-wrap: break-word;", halign="center", valign="top"):
                        with p():
                            with a(href=f"images/{link}"):
                                img(style=f"width:{width}px", src=f"images/{im}")
                            br()
                            p(txt)

    def render(self) -> str:
        return self.doc.render()

    def save(self) -> None:
        """Write ``index.html`` atomically."""
        atomic_write_text(self.web_dir / "index.html", self.render())

    @staticmethod
    def _table(rows: Iterable[Sequence[Any]], header: Optional[Sequence[str]], cls: str) -> None:
        with table(cls=cls):
            if header:
                with tr():
                    for cell in header:
                        th(str(cell))
            for row in rows:
                with tr():
                    for cell in row:
                        td(str(cell))


def _metrics_content(items: Mapping[str, Any]) -> None:
    h3("Metrics")
    HTML._table(((key, value) for key, value in items.items()), None, "info metrics")


def update_saved_metrics(web_dir: PathLike, items: Mapping[str, Any]) -> bool:
    """Show ``items`` as the metrics of the page already saved in ``web_dir`` (scripts/evaluate.py --results);
    False when there is no page, or one this class did not write (it has no metrics block)."""
    index = Path(web_dir) / "index.html"
    if not index.is_file():
        return False
    block = div(cls="metrics")
    with block:
        _metrics_content(items)
    text, found = METRICS_BLOCK.subn(lambda _: block.render(), index.read_text(encoding="utf-8"), count=1)
    if found:
        atomic_write_text(index, text)
    return bool(found)
