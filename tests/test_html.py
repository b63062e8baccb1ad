"""The HTML page class, the test results page (``save_images``) and the SVG loss plot, checked in Chromium."""
from __future__ import annotations

import re
from collections import OrderedDict

import pytest
import torch

from monitoring.loss_plot import loss_curves_svg, nice_ticks
from tests.browser import CHROMIUM, capture_page
from util.html import HTML, update_saved_metrics
from util.visualizer import save_images

LABELS = ["real_A", "fake_B", "rec_A"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")


def batch(n: int, size: int = 32) -> "OrderedDict[str, torch.Tensor]":
    """Visuals of ``n`` images each: colour gradients, and a one-channel rec_A."""
    ramp = torch.linspace(-1, 1, size)
    out = OrderedDict()
    for k, label in enumerate(LABELS):
        channels = 1 if label == "rec_A" else 3
        images = torch.empty(n, channels, size, size)
        for i in range(n):
            for c in range(channels):
                images[i, c] = torch.outer(ramp, ramp.flip(0) if (c + i + k) % 2 else ramp) * (1 - 0.3 * c)
        out[label] = images
    return out


def test_add_images_row_has_the_reference_structure(tmp_path):
    page = HTML(tmp_path / "web", "Title")
    page.add_header("row")
    page.add_images(["a.png", "b.png"], ["A", "B"], ["a_big.png", "b.png"], width=123)
    html = page.render()
    assert (tmp_path / "web" / "images").is_dir() and page.get_image_dir() == str(tmp_path / "web" / "images")
    assert '<table border="1" class="images" style="table-layout: fixed;">' in html
    assert html.count('<td halign="center" style="word-wrap: break-word;" valign="top">') == 2
    assert '<a href="images/a_big.png">' in html and '<img src="images/a.png" style="width:123px">' in html
    assert "<h3>row</h3>" in html and "<title>Title</title>" in html


def test_summary_heads_the_page_and_refresh_only_when_asked(tmp_path):
    page = HTML(tmp_path, "T", refresh=5)
    page.add_header("first row")
    page.set_summary({"model": "pix2pix", "images": 1})
    page.set_summary({"model": "pix2pix", "images": 2})       # replaces, does not add
    page.save()
    html = (tmp_path / "index.html").read_text()
    assert html.index("images</td>") < html.index("first row") and "<td>2</td>" in html and "<td>1</td>" not in html
    assert '<meta content="5" http-equiv="refresh">' in html
    assert "refresh" not in HTML(tmp_path, "T").render()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "index.html"]  # no temporary file left


def test_metrics_sit_under_the_summary_and_a_saved_page_takes_new_ones(tmp_path):
    page = HTML(tmp_path, "T")
    page.add_header("first row")
    page.set_summary({"model": "pix2pix"})
    page.set_metrics({"fake_B vs real_B": "PSNR 20.00", "measured in": "0.50 s on cpu"})
    page.save()
    html = (tmp_path / "index.html").read_text()
    assert html.index("model</td>") < html.index("<h3>Metrics</h3>") < html.index("first row")
    assert update_saved_metrics(tmp_path, {"fake_B vs real_B": "PSNR 21.00, FID 3.00 </div>"})
    html = (tmp_path / "index.html").read_text()
    assert html.count("<h3>Metrics</h3>") == 1 and "PSNR 20.00" not in html and "FID 3.00 &lt;/div&gt;" in html
    assert html.index("FID 3.00") < html.index("first row") and html.rstrip().endswith("</html>")
    assert not update_saved_metrics(tmp_path / "nothing", {"a": "b"})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "index.html").write_text("<html><body><h3>a page of the reference</h3></body></html>")
    assert not update_saved_metrics(tmp_path / "other", {"a": "b"})


def test_save_images_writes_every_item_of_a_batch(tmp_path):
    page = HTML(tmp_path, "T")
    save_images(page, batch(3), ["/in/a.png", "/in/b.jpg", "/in/c.png"], aspect_ratio=0.5, width=50)
    names = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert names == sorted(f"{s}_{label}.png" for s in "abc" for label in LABELS)
    assert page.render().count('<table border="1" class="images"') == 3


def test_loss_plot_svg():
    svg = loss_curves_svg([1.25, 1.5, 2.0], [[1.0, 0.5], [0.8, 0.4], [0.6, 0.3]], ["G<A>", "D"], title="t")
    assert svg.startswith('<svg class="loss-plot"') and svg.endswith("</svg>")
    lines = re.findall(r'<polyline class="loss-line" data-loss="([^"]+)" points="([^"]+)"', svg)
    assert [name for name, _ in lines] == ["G&lt;A&gt;", "D"] and all(len(p.split()) == 3 for _, p in lines)
    single = loss_curves_svg([1.0], [[0.7]], ["G"])           # one point is still visible
    assert "<circle" in single
    early = loss_curves_svg([0.25], [[0.7]], ["G"], x_label="epochs done")  # the first point, after one iteration
    x_ticks = [float(t) for t in re.findall(r'text-anchor="middle" font-size="11" font-family="sans-serif">([^<]+)<',
                                            early)]
    assert x_ticks and min(x_ticks) == 0.0 and max(x_ticks) == 1.0  # no negative epochs
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(3.0, 3.0)[0] <= 3.0 <= nice_ticks(3.0, 3.0)[-1]


@needs_chromium
def test_results_page_in_chromium(tmp_path):
    web_dir = tmp_path / "results" / "exp" / "test_latest"
    page = HTML(web_dir, "Experiment = exp, Phase = test, Epoch = latest")
    save_images(page, batch(2), ["/data/testA/horse 1.jpg", "/data/testA/zebra.png"], aspect_ratio=1.5, width=96)
    save_images(page, batch(1), "/data/x/third.png", aspect_ratio=1.5, width=96)
    page.set_summary(OrderedDict(model="cycle_gan", epoch="latest", images=3))
    page.save()
    report = capture_page(web_dir / "index.html", "results_page.png")
    stems = ["horse 1", "zebra", "third"]
    assert report["headers"] == stems                          # one titled row per input image
    assert [im["src"] for im in report["images"]] == [f"images/{s}_{label}.png" for s in stems for label in LABELS]
    assert all(im["ok"] and im["w"] == 48 and im["h"] == 32 for im in report["images"]), report["images"]
    assert report["links"] == [im["src"] for im in report["images"]]  # each linked to its full-size file
    assert report["summary"].split("\n")[:3] == ["model\tcycle_gan", "epoch\tlatest", "images\t3"]
    assert not report["refresh"]
