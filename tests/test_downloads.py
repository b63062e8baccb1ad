"""The four download scripts against a real HTTP server on 127.0.0.1 (with Range support), run as subprocesses."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import torch
from PIL import Image

from tests.conftest import ROOT
from datasets import download
from util.errors import UserError


class ArchiveServer:
    """Serves ``files`` (URL path -> bytes) over HTTP/1.0 with Range support.

    ``truncate_at`` cuts a full (non-Range) response short while announcing the full size, as a dropped
    connection does.
    """

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {}
        self.truncate_at: Dict[str, int] = {}
        self.ignore_range = False
        self.requests: List[tuple] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and not server.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                end = server.truncate_at.get(self.path, len(data)) if start == 0 else len(data)
                self.wfile.write(data[start:end])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = ArchiveServer()
    yield srv
    srv.close()


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (seed * 40 % 256, 100, 200)).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(top: str, splits=("trainA", "trainB", "testA", "testB"), n: int = 2, stored: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        for split in splits:
            for i in range(n):
                zf.writestr(f"{top}/{split}/{i}.png", _png(i))
    return buf.getvalue()


def make_tar_gz(top: str, splits=("train", "val"), n: int = 2, size: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split in splits:
            for i in range(n):
                data = _png(i) + os.urandom(size)  # random padding makes the archive incompressible
                info = tarfile.TarInfo(f"{top}/{split}/{i}.png")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def state_dict_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"model.1.weight": torch.randn(8, 3, 7, 7), "model.1.bias": torch.zeros(8)}, buf)
    return buf.getvalue()


def run(script: str, args: List[str], server: ArchiveServer, tmp_path: Path,
        extra_env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, CYCLEGAN_BASE_URL=f"{server.url}/cyclegan",
               PIX2PIX_BASE_URL=f"{server.url}/pix2pix", IMG2IMG_DATASETS_DIR=str(tmp_path / "datasets"),
               IMG2IMG_CHECKPOINTS_DIR=str(tmp_path / "checkpoints"))
    env.update(extra_env or {})
    return subprocess.run([str(ROOT / script), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


def leftovers(folder: Path) -> List[str]:
    """Everything in ``folder`` (recursively), for asserting that a failure left nothing behind."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_cyclegan_dataset_zip_is_extracted(server, tmp_path):
    server.files["/cyclegan/datasets/mini.zip"] = make_zip("mini")
    proc = run("datasets/download_cyclegan_dataset.sh", ["mini"], server, tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "datasets"
    for split in ("trainA", "trainB", "testA", "testB"):
        assert sorted(p.name for p in (root / "mini" / split).iterdir()) == ["0.png", "1.png"]
    assert (root / "mini" / "trainA" / "1.png").read_bytes() == _png(1)
    assert sorted(p.name for p in root.iterdir()) == ["mini"]  # no archive, .part or staging folder left
    assert "mini" in proc.stdout


def test_pix2pix_dataset_tar_gz_via_server_root_variable(server, tmp_path):
    server.files["/pix2pix/datasets/facades.tar.gz"] = make_tar_gz("facades", ("train", "val", "test"))
    proc = run("datasets/download_pix2pix_dataset.sh", ["facades"], server, tmp_path,
               {"PIX2PIX_BASE_URL": "", "IMG2IMG_DOWNLOAD_URL": server.url})
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "datasets"
    assert sorted(p.name for p in (root / "facades").iterdir()) == ["test", "train", "val"]
    assert (root / "facades" / "val" / "0.png").read_bytes() == _png(0)
    assert sorted(p.name for p in root.iterdir()) == ["facades"]
    # A second run finds the dataset and does not download again.
    before = len(server.requests)
    proc = run("datasets/download_pix2pix_dataset.sh", ["facades"], server, tmp_path,
               {"PIX2PIX_BASE_URL": "", "IMG2IMG_DOWNLOAD_URL": server.url})
    assert proc.returncode == 0 and len(server.requests) == before
    assert "already exists" in proc.stdout


@pytest.mark.parametrize("script", ["datasets/download_cyclegan_dataset.sh", "datasets/download_pix2pix_dataset.sh",
                                    "scripts/download_cyclegan_model.sh", "scripts/download_pix2pix_model.sh"])
def test_unknown_name_lists_valid_names(server, tmp_path, script):
    proc = run(script, ["horse2unicorn"], server, tmp_path)
    assert proc.returncode != 0
    assert "unknown" in proc.stderr and "horse2unicorn" in proc.stderr
    valid = {"datasets/download_cyclegan_dataset.sh": "horse2zebra", "datasets/download_pix2pix_dataset.sh":
             "edges2shoes", "scripts/download_cyclegan_model.sh": "style_monet",
             "scripts/download_pix2pix_model.sh": "day2night"}[script]
    assert valid in proc.stderr
    assert server.requests == [] and leftovers(tmp_path) == []


def test_usage_without_name_documents_names_and_variables(server, tmp_path):
    proc = run("scripts/download_cyclegan_model.sh", ["--help"], server, tmp_path)
    assert proc.returncode == 0
    for text in ("CYCLEGAN_BASE_URL", "IMG2IMG_DOWNLOAD_URL", "IMG2IMG_CHECKPOINTS_DIR", "zebra2horse"):
        assert text in proc.stdout
    proc = run("datasets/download_cyclegan_dataset.sh", [], server, tmp_path)
    assert proc.returncode != 0 and "monet2photo" in proc.stderr


@pytest.mark.parametrize("script", ["datasets/download_cyclegan_dataset.sh", "datasets/download_pix2pix_dataset.sh"])
def test_cityscapes_is_refused_with_licence_notice(server, tmp_path, script):
    proc = run(script, ["cityscapes"], server, tmp_path)
    assert proc.returncode == 1
    assert "prepare_cityscapes_dataset.py" in proc.stderr and "licence" in proc.stderr
    assert server.requests == [] and leftovers(tmp_path) == []


def test_truncated_download_is_kept_and_resumed_with_range(server, tmp_path):
    data = make_tar_gz("edges2shoes", size=20000)
    path = "/pix2pix/datasets/edges2shoes.tar.gz"
    server.files[path] = data
    server.truncate_at[path] = len(data) // 3
    proc = run("datasets/download_pix2pix_dataset.sh", ["edges2shoes", "--retries", "0"], server, tmp_path)
    assert proc.returncode != 0
    assert f"stopped after {len(data) // 3} of {len(data)} bytes" in proc.stderr
    assert "resume" in proc.stderr
    root = tmp_path / "datasets"
    assert leftovers(root) == ["edges2shoes.tar.gz.part"]  # no dataset folder, no half-extracted staging folder
    assert (root / "edges2shoes.tar.gz.part").read_bytes() == data[: len(data) // 3]

    del server.truncate_at[path]
    proc = run("datasets/download_pix2pix_dataset.sh", ["edges2shoes"], server, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert server.requests[-1] == (path, f"bytes={len(data) // 3}-")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    extracted = {f"edges2shoes/{p.relative_to(root / 'edges2shoes')}": p.read_bytes()
                 for p in (root / "edges2shoes").rglob("*.png")}
    assert extracted == members
    assert sorted(p.name for p in root.iterdir()) == ["edges2shoes"]


def test_retry_resumes_within_one_run(server, tmp_path, monkeypatch):
    data = make_tar_gz("maps", size=20000)
    path = "/pix2pix/datasets/maps.tar.gz"
    server.files[path] = data
    server.truncate_at[path] = len(data) // 2  # first request breaks off; the Range request gets the rest
    monkeypatch.setattr(download.time, "sleep", lambda s: None)
    part = tmp_path / "maps.tar.gz.part"
    download.fetch(f"{server.url}{path}", part, retries=1, timeout=10)
    assert part.read_bytes() == data
    assert [r for _, r in server.requests] == [None, f"bytes={len(data) // 2}-"]


def test_server_without_range_support_restarts_from_zero(server, tmp_path):
    data = make_zip("ae_photos")
    server.files["/cyclegan/datasets/ae_photos.zip"] = data
    server.ignore_range = True
    part = tmp_path / "ae_photos.zip.part"
    part.write_bytes(b"stale bytes of an older attempt")
    download.fetch(f"{server.url}/cyclegan/datasets/ae_photos.zip", part, retries=0, timeout=10)
    assert part.read_bytes() == data


def test_complete_part_file_is_not_downloaded_again(server, tmp_path):
    data = make_zip("grumpifycat")
    path = "/cyclegan/datasets/grumpifycat.zip"
    server.files[path] = data
    (tmp_path / "grumpifycat.zip.part").write_bytes(data)  # e.g. the extraction of an earlier run was killed
    (tmp_path / ".grumpifycat.extract-abc123" / "grumpifycat").mkdir(parents=True)
    env = {"CYCLEGAN_BASE_URL": f"{server.url}/cyclegan"}
    download.download_dataset(download.CATALOGS["cyclegan-dataset"], "grumpifycat", tmp_path, retries=0, env=env)
    assert server.requests == [(path, f"bytes={len(data)}-")]  # answered 416: nothing left to send
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grumpifycat"]  # part and stale staging folder gone
    assert (tmp_path / "grumpifycat" / "trainB" / "1.png").read_bytes() == _png(1)


@pytest.mark.parametrize("kind", ["garbage", "cut_tar", "bad_crc"])
def test_corrupt_archive_leaves_nothing(server, tmp_path, kind):
    if kind == "garbage":
        script, name, path, data = ("datasets/download_cyclegan_dataset.sh", "maps", "/cyclegan/datasets/maps.zip",
                                    b"<html>not a zip</html>" * 50)
    elif kind == "cut_tar":  # a complete transfer of an archive that was cut on the server
        full = make_tar_gz("night2day", n=6, size=5000)
        script, name, path, data = ("datasets/download_pix2pix_dataset.sh", "night2day",
                                    "/pix2pix/datasets/night2day.tar.gz", full[: len(full) * 2 // 3])
    else:  # one flipped byte inside the last stored member: earlier members extract fine, its CRC fails
        full = bytearray(make_zip("facades", stored=True))
        with zipfile.ZipFile(io.BytesIO(bytes(full))) as zf:
            last = zf.infolist()[-1]
        offset = last.header_offset + 30 + len(last.filename) + 20
        full[offset] ^= 0xFF
        script, name, path, data = ("datasets/download_cyclegan_dataset.sh", "facades",
                                    "/cyclegan/datasets/facades.zip", bytes(full))
    server.files[path] = data
    proc = run(script, [name], server, tmp_path)
    assert proc.returncode != 0
    assert "is not a valid" in proc.stderr and "nothing was installed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert leftovers(tmp_path / "datasets") == []


def test_known_size_mismatch_is_refused(server, tmp_path, monkeypatch):
    data = make_zip("mini")
    server.files["/cyclegan/datasets/mini.zip"] = data
    monkeypatch.setitem(download.KNOWN_FILES, "cyclegan/datasets/mini.zip", (len(data) + 10, None))
    env = {"CYCLEGAN_BASE_URL": f"{server.url}/cyclegan"}
    with pytest.raises(download.DownloadError, match=f"offers {len(data)} bytes but the file should have"):
        download.download_dataset(download.CATALOGS["cyclegan-dataset"], "mini", tmp_path, retries=0, env=env)
    assert leftovers(tmp_path) == []
    monkeypatch.setitem(download.KNOWN_FILES, "cyclegan/datasets/mini.zip", (len(data), "0" * 64))
    with pytest.raises(download.DownloadError, match="SHA-256"):
        download.download_dataset(download.CATALOGS["cyclegan-dataset"], "mini", tmp_path, retries=0, env=env)
    assert leftovers(tmp_path) == []


def test_http_404_is_a_clear_error(server, tmp_path):
    proc = run("datasets/download_cyclegan_dataset.sh", ["horse2zebra"], server, tmp_path)
    assert proc.returncode != 0
    assert "was not found on the server (HTTP 404)" in proc.stderr and "horse2zebra.zip" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert leftovers(tmp_path / "datasets") == []
    proc = run("scripts/download_pix2pix_model.sh", ["day2night"], server, tmp_path)
    assert proc.returncode != 0 and "HTTP 404" in proc.stderr
    assert leftovers(tmp_path / "checkpoints") == []


@pytest.mark.slow
def test_cyclegan_model_is_saved_where_test_py_finds_it(server, tmp_path):
    server.files["/cyclegan/pretrained_models/zebra2horse.pth"] = state_dict_bytes()
    proc = run("scripts/download_cyclegan_model.sh", ["zebra2horse"], server, tmp_path)
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / "checkpoints" / "zebra2horse_pretrained" / "latest_net_G.pth"
    state = torch.load(target, weights_only=True)
    assert state["model.1.weight"].shape == (8, 3, 7, 7)
    assert leftovers(tmp_path / "checkpoints") == ["zebra2horse_pretrained",
                                                   "zebra2horse_pretrained/latest_net_G.pth"]
    assert ("python test.py --dataroot datasets/horse2zebra/testB --name zebra2horse_pretrained --model test "
            "--no_dropout\n") in proc.stdout  # run from tmp_path, whose checkpoints/ test.py reads by default


@pytest.mark.slow
def test_pix2pix_model_command_and_unloadable_file(server, tmp_path):
    server.files["/pix2pix/models-pytorch/facades_label2photo.pth"] = state_dict_bytes()
    checkpoints = tmp_path / "checkpoints"
    proc = run("scripts/download_pix2pix_model.sh", ["facades_label2photo"], server, tmp_path,
               {"IMG2IMG_CHECKPOINTS_DIR": str(tmp_path / "checkpoints")})
    assert proc.returncode == 0, proc.stderr
    assert (checkpoints / "facades_label2photo_pretrained" / "latest_net_G.pth").is_file()
    assert "--netG unet_256 --norm batch" in proc.stdout and "--direction BtoA" in proc.stdout

    server.files["/pix2pix/models-pytorch/edges2shoes.pth"] = b"\x00" * 4096
    with pytest.raises(download.DownloadError, match="not a usable generator"):
        download.download_model(download.CATALOGS["pix2pix-model"], "edges2shoes", checkpoints, retries=0,
                                env={"PIX2PIX_BASE_URL": f"{server.url}/pix2pix"})
    assert not (checkpoints / "edges2shoes_pretrained").exists()


def test_default_folders_and_urls():
    assert download.default_dir(download.CATALOGS["cyclegan-dataset"], {}) == ROOT / "datasets"
    assert download.default_dir(download.CATALOGS["pix2pix-model"], {}) == ROOT / "checkpoints"
    assert (download.file_url(download.CATALOGS["cyclegan-model"], "style_monet", {})
            == "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/style_monet.pth")
    assert (download.file_url(download.CATALOGS["pix2pix-dataset"], "maps", {"IMG2IMG_DOWNLOAD_URL": "http://m/x/"})
            == "http://m/x/pix2pix/datasets/maps.tar.gz")
    with pytest.raises(UserError, match="first argument"):
        download.main(["nonsense"])
