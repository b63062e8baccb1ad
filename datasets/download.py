"""Download the reference's datasets and pretrained generators; the one implementation behind the four scripts.

``datasets/download_cyclegan_dataset.sh``, ``datasets/download_pix2pix_dataset.sh``,
``scripts/download_cyclegan_model.sh`` and ``scripts/download_pix2pix_model.sh`` are thin wrappers that call
``main([CATALOG, ...])``. Compared with the reference's ``wget`` + ``unzip``:

* a download goes to ``NAME.<ext>.part`` and is resumed with an HTTP Range request when it is run again;
* the received length is checked against Content-Length (and against ``KNOWN_FILES`` when an entry exists);
* an archive is extracted into a hidden staging folder next to the target and renamed into place only once
  every member has been read back with its checksum (zip CRC-32, gzip CRC), so ``datasets/NAME`` is either
  complete or absent;
* a model file must load with ``torch.load(weights_only=True)`` as a state dict before it is renamed to
  ``checkpoints/NAME_pretrained/latest_net_G.pth``.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from util.cli import run_cli, setup_logging
from util.errors import UserError
from util.fileio import load_checkpoint_file

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "http://efrosgans.eecs.berkeley.edu"
CHUNK = 1 << 20

# Environment variables that redirect downloads (a mirror, or a test server) and outputs.
ENV_SERVER = "IMG2IMG_DOWNLOAD_URL"            # server root holding cyclegan/ and pix2pix/
ENV_BASE = {"cyclegan": "CYCLEGAN_BASE_URL", "pix2pix": "PIX2PIX_BASE_URL"}  # one technique's folder
ENV_DATASETS_DIR = "IMG2IMG_DATASETS_DIR"
ENV_CHECKPOINTS_DIR = "IMG2IMG_CHECKPOINTS_DIR"

# Known (size in bytes, sha256 hex) of remote files, keyed by their path below the server root, e.g.
# "cyclegan/datasets/horse2zebra.zip". Either value may be None. The published files carry no checksums,
# so the table starts empty; add entries as they are measured and every download is checked against them.
KNOWN_FILES: Dict[str, Tuple[Optional[int], Optional[str]]] = {}

CITYSCAPES_NOTICE = (
    "The Cityscapes dataset cannot be redistributed under its licence, so it is not on the download server.\n"
    "Register at https://www.cityscapes-dataset.com, download gtFine_trainvaltest.zip and\n"
    "leftImg8bit_trainvaltest.zip, unzip them and build the dataset with\n"
    "  python datasets/prepare_cityscapes_dataset.py --gtFine_dir GTFINE/gtFine "
    "--leftImg8bit_dir LEFT/leftImg8bit --output_dir datasets/cityscapes"
)


class DownloadError(UserError):
    """A download or its verification failed; the message says why and what was kept for a retry."""


class _Retryable(Exception):
    """A transfer that stopped early; the .part file is kept so the next attempt resumes it."""


@dataclass(frozen=True)
class Catalog:
    """One family of downloadable files on the server."""

    script: str                 # the wrapper, for usage text
    technique: str              # 'cyclegan' | 'pix2pix': the folder on the server
    remote_dir: str             # folder below the technique's folder
    suffix: str                 # '.zip', '.tar.gz' or '.pth'
    names: Tuple[str, ...]
    refused: Tuple[str, ...] = ()

    @property
    def is_model(self) -> bool:
        return self.suffix == ".pth"

    def remote_path(self, name: str) -> str:
        return f"{self.technique}/{self.remote_dir}/{name}{self.suffix}"


CATALOGS: Dict[str, Catalog] = {
    "cyclegan-dataset": Catalog(
        "datasets/download_cyclegan_dataset.sh", "cyclegan", "datasets", ".zip",
        ("apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo", "ukiyoe2photo",
         "vangogh2photo", "maps", "cityscapes", "facades", "iphone2dslr_flower", "ae_photos", "grumpifycat",
         "mini", "mini_pix2pix", "mini_colorization"),
        refused=("cityscapes",)),
    "pix2pix-dataset": Catalog(
        "datasets/download_pix2pix_dataset.sh", "pix2pix", "datasets", ".tar.gz",
        ("cityscapes", "night2day", "edges2handbags", "edges2shoes", "facades", "maps"),
        refused=("cityscapes",)),
    "cyclegan-model": Catalog(
        "scripts/download_cyclegan_model.sh", "cyclegan", "pretrained_models", ".pth",
        ("apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite", "horse2zebra",
         "zebra2horse", "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh", "sat2map",
         "map2sat", "cityscapes_photo2label", "cityscapes_label2photo", "facades_photo2label",
         "facades_label2photo", "iphone2dslr_flower")),
    "pix2pix-model": Catalog(
        "scripts/download_pix2pix_model.sh", "pix2pix", "models-pytorch", ".pth",
        ("edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night")),
}

# Test folder of input-domain images for each CycleGAN generator: (dataset, split folder).
CYCLEGAN_TEST_DATA: Dict[str, Tuple[str, str]] = {
    "apple2orange": ("apple2orange", "testA"), "orange2apple": ("apple2orange", "testB"),
    "summer2winter_yosemite": ("summer2winter_yosemite", "testA"),
    "winter2summer_yosemite": ("summer2winter_yosemite", "testB"),
    "horse2zebra": ("horse2zebra", "testA"), "zebra2horse": ("horse2zebra", "testB"),
    "monet2photo": ("monet2photo", "testA"), "style_monet": ("monet2photo", "testB"),
    "style_cezanne": ("cezanne2photo", "testB"), "style_ukiyoe": ("ukiyoe2photo", "testB"),
    "style_vangogh": ("vangogh2photo", "testB"),
    "sat2map": ("maps", "testA"), "map2sat": ("maps", "testB"),
    "cityscapes_photo2label": ("cityscapes", "testA"), "cityscapes_label2photo": ("cityscapes", "testB"),
    "facades_photo2label": ("facades", "testA"), "facades_label2photo": ("facades", "testB"),
    "iphone2dslr_flower": ("iphone2dslr_flower", "testA"),
}

# Aligned dataset and direction for each pix2pix generator.
PIX2PIX_TEST_DATA: Dict[str, Tuple[str, str]] = {
    "edges2shoes": ("edges2shoes", "AtoB"), "sat2map": ("maps", "AtoB"), "map2sat": ("maps", "BtoA"),
    "facades_label2photo": ("facades", "BtoA"), "day2night": ("night2day", "BtoA"),
}


def base_url(technique: str, env: Mapping[str, str] = os.environ) -> str:
    """The technique's folder on the server: its own variable, else the server variable, else Berkeley."""
    own = env.get(ENV_BASE[technique])
    if own:
        return own.rstrip("/")
    return f"{env.get(ENV_SERVER) or DEFAULT_SERVER}".rstrip("/") + f"/{technique}"


def file_url(catalog: Catalog, name: str, env: Mapping[str, str] = os.environ) -> str:
    return f"{base_url(catalog.technique, env)}/{catalog.remote_dir}/{name}{catalog.suffix}"


# ----------------------------------------------------------------------------------------------- transfer


def _content_range(header: Optional[str]) -> Tuple[Optional[int], Optional[int]]:
    """(first byte, total size) from a Content-Range header such as ``bytes 100-199/200`` or ``bytes */200``."""
    if not header or not header.startswith("bytes "):
        return None, None
    span, _, total = header[len("bytes "):].partition("/")
    first = int(span.split("-")[0]) if span != "*" and span.split("-")[0].isdigit() else None
    return first, int(total) if total.isdigit() else None


def _transfer_once(url: str, part: Path, expected_size: Optional[int], timeout: float) -> None:
    """Append the rest of ``url`` to ``part``; raise _Retryable when the transfer stops early."""
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    if expected_size is not None and have == expected_size:
        return
    headers = {"User-Agent": "img2img-download/1.0"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as err:
        if err.code == 416 and have:
            _, total = _content_range(err.headers.get("Content-Range"))
            if total == have:
                return
            part.unlink()
            raise _Retryable(f"the server cannot resume {part.name} (HTTP 416); starting over") from None
        if err.code == 404:
            raise DownloadError(f"{url} was not found on the server (HTTP 404); check the name, or the "
                                f"server set by {ENV_SERVER} / {' / '.join(ENV_BASE.values())}") from None
        raise DownloadError(f"{url}: the server answered HTTP {err.code} {err.reason}") from None
    except (URLError, OSError, HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise _Retryable(f"cannot reach {url}: {reason}") from None

    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if response.status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != have:
                part.unlink()
                raise _Retryable(f"the server resumed {part.name} at the wrong offset; starting over")
            if total is None and length is not None:
                total = have + length
            mode = "ab"
            logger.info("resuming %s at %d bytes", part.name, have)
        elif response.status == 200:
            if have:
                logger.info("the server does not resume downloads; downloading %s from the start", url)
            have, total, mode = 0, length, "wb"
        else:
            raise DownloadError(f"{url}: unexpected HTTP status {response.status}")
        if expected_size is not None and total is not None and total != expected_size:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: the server offers {total} bytes but the file should have "
                                f"{expected_size} bytes; not downloading it")
        if total is None:
            logger.warning("the server sent no size for %s; only the archive check can tell it is complete", url)
        got = have
        next_report = time.monotonic() + 10
        try:
            with open(part, mode) as f:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    got += len(chunk)
                    if time.monotonic() >= next_report:
                        next_report += 10
                        logger.info("  %s: %.1f of %s MB", part.name, got / 1e6,
                                    f"{total / 1e6:.1f}" if total else "?")
                f.flush()
                os.fsync(f.fileno())
        except (OSError, HTTPException) as err:
            raise _Retryable(f"the download of {url} broke off after {got} bytes ({err})") from None
    if total is not None and got < total:
        raise _Retryable(f"the download of {url} stopped after {got} of {total} bytes")
    if total is not None and got > total:
        part.unlink()
        raise DownloadError(f"{url}: received {got} bytes but the server announced {total}; removed")


def fetch(url: str, part: Path, expected_size: Optional[int] = None, sha256: Optional[str] = None,
          retries: int = 2, timeout: float = 60.0) -> None:
    """Download ``url`` into ``part``, resuming what ``part`` already holds; verify size and checksum.

    A transfer that breaks off is retried ``retries`` times; if it still is incomplete the .part file stays
    so that running the command again resumes it. A file that arrives complete but wrong is deleted.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries + 1):
        try:
            _transfer_once(url, part, expected_size, timeout)
            break
        except _Retryable as err:
            if attempt == retries:
                kept = f"; run the command again to resume ({part} is kept)" if part.exists() else ""
                raise DownloadError(f"{err}{kept}") from None
            logger.warning("%s; retrying (%d of %d)", err, attempt + 1, retries)
            time.sleep(min(2 ** attempt, 10))
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink()
        raise DownloadError(f"{url}: got {size} bytes but the file should have {expected_size}; removed")
    if sha256:
        digest = hashlib.sha256()
        with open(part, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha256.lower():
            part.unlink()
            raise DownloadError(f"{url}: SHA-256 {digest.hexdigest()} does not match the expected {sha256}; "
                                f"removed")


# ----------------------------------------------------------------------------------------------- archives


class ArchiveError(Exception):
    """The archive is truncated, corrupt, empty or has a member that would land outside the target."""


def _check_member_name(name: str) -> None:
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise ArchiveError(f"member {name!r} would be written outside the dataset folder")


def _extract_zip(archive: Path, dest: Path) -> None:
    """Extract every member; reading a member back checks its CRC-32, so a corrupt file raises."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if not members:
                raise ArchiveError("the archive is empty")
            for member in members:
                _check_member_name(member.filename)
            for member in members:
                zf.extract(member, dest)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
        raise ArchiveError(str(err) or type(err).__name__) from None


def _extract_tar_gz(archive: Path, dest: Path) -> None:
    """Stream-extract with the 'data' filter, then read the gzip stream to its end so its CRC is checked."""
    try:
        with gzip.open(archive, "rb") as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                count = 0
                for member in tar:
                    _check_member_name(member.name)
                    tar.extract(member, dest, filter="data")
                    count += 1
            while gz.read(CHUNK):
                pass
        if not count:
            raise ArchiveError("the archive is empty")
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as err:
        raise ArchiveError(str(err) or type(err).__name__) from None


def install_archive(archive: Path, target: Path, suffix: str) -> None:
    """Extract ``archive`` into a staging folder next to ``target`` and rename its content to ``target``.

    The reference's archives hold one top folder named like the dataset; an archive with several top
    entries becomes ``target`` as a whole. On any error the staging folder is removed and ``target`` is
    left untouched.
    """
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent))
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private; it becomes the dataset folder
        if suffix == ".zip":
            _extract_zip(archive, staging)
        else:
            _extract_tar_gz(archive, staging)
        shutil.rmtree(staging / "__MACOSX", ignore_errors=True)
        entries = list(staging.iterdir())
        if not entries:
            raise ArchiveError("the archive holds no files")
        content = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        os.replace(content, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- commands


def default_dir(catalog: Catalog, env: Mapping[str, str] = os.environ) -> Path:
    if catalog.is_model:
        return Path(env.get(ENV_CHECKPOINTS_DIR) or REPO_ROOT / "checkpoints")
    return Path(env.get(ENV_DATASETS_DIR) or REPO_ROOT / "datasets")


def download_dataset(catalog: Catalog, name: str, out_dir: Path, retries: int = 2, timeout: float = 60.0,
                     env: Mapping[str, str] = os.environ) -> Path:
    """Download and install dataset ``name`` as ``out_dir/name``; return that folder."""
    target = out_dir / name
    if target.is_dir() and any(target.iterdir()):
        logger.info("%s already exists; delete it to download the dataset again", target)
        return target
    if target.exists() and not target.is_dir():
        raise DownloadError(f"{target} exists and is not a folder; move it away first")
    if target.is_dir():
        target.rmdir()  # an empty leftover of an interrupted reference-style download
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(f".{name}.extract-*"):  # staging folders of a run that was killed
        shutil.rmtree(stale, ignore_errors=True)
    part = out_dir / f"{name}{catalog.suffix}.part"
    url = file_url(catalog, name, env)
    size, sha = KNOWN_FILES.get(catalog.remote_path(name), (None, None))
    logger.info("downloading %s to %s", url, part)
    fetch(url, part, size, sha, retries=retries, timeout=timeout)
    logger.info("extracting %s", part.name)
    try:
        install_archive(part, target, catalog.suffix)
    except ArchiveError as err:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url} is not a valid {catalog.suffix} archive ({err}); the download was "
                            f"removed, nothing was installed") from None
    except OSError as err:
        raise DownloadError(f"cannot extract {part} into {out_dir} ({err}); nothing was installed, the "
                            f"download is kept for the next try") from None
    part.unlink()
    return target


def download_model(catalog: Catalog, name: str, out_dir: Path, retries: int = 2, timeout: float = 60.0,
                   env: Mapping[str, str] = os.environ) -> Path:
    """Download generator ``name`` to ``out_dir/NAME_pretrained/latest_net_G.pth``; return that file."""
    folder = out_dir / f"{name}_pretrained"
    target = folder / "latest_net_G.pth"
    if target.is_file():
        logger.info("%s already exists; delete it to download the model again", target)
        return target
    created = not folder.exists()
    part = folder / "latest_net_G.pth.part"
    url = file_url(catalog, name, env)
    size, sha = KNOWN_FILES.get(catalog.remote_path(name), (None, None))
    logger.info("downloading %s to %s", url, target)
    try:
        fetch(url, part, size, sha, retries=retries, timeout=timeout)
        try:
            load_checkpoint_file(part)
        except UserError as err:
            part.unlink()
            raise DownloadError(f"{url} is not a usable generator: {err}; the download was removed") from None
        os.replace(part, target)
    finally:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return target


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies below it, for commands to copy."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _checkpoints_flag(checkpoints_dir: Path) -> str:
    """`` --checkpoints_dir DIR`` unless DIR is the ./checkpoints that test.py reads by default."""
    if checkpoints_dir.resolve() == (Path.cwd() / "checkpoints").resolve():
        return ""
    return f" --checkpoints_dir {_shown(checkpoints_dir)}"


def suggested_test_command(catalog: Catalog, name: str, checkpoints_dir: Path, datasets_dir: Path) -> str:
    """The ``test.py`` command line that uses a downloaded generator."""
    extra = _checkpoints_flag(checkpoints_dir)
    if catalog.technique == "cyclegan":
        dataset, split = CYCLEGAN_TEST_DATA.get(name, (name, "testA"))
        return (f"python test.py --dataroot {_shown(datasets_dir / dataset / split)} --name {name}_pretrained "
                f"--model test --no_dropout{extra}")
    dataset, direction = PIX2PIX_TEST_DATA.get(name, (name, "AtoB"))
    return (f"python test.py --dataroot {_shown(datasets_dir / dataset)} --name {name}_pretrained "
            f"--model pix2pix --netG unet_256 --norm batch --dataset_mode aligned --direction {direction}{extra}")


def pix2pix_notes(name: str, checkpoints_dir: Path) -> str:
    """Why the direction flag is what it is, and how to run the generator on plain input images."""
    dataset, direction = PIX2PIX_TEST_DATA.get(name, (name, "AtoB"))
    side = "left (A) half to the right (B) half" if direction == "AtoB" else "right (B) half to the left (A) half"
    return (f"Each image in datasets/{dataset} is an A|B pair; {name} maps the {side}, hence --direction "
            f"{direction}.\nFor a folder of input images alone use: python test.py --dataroot FOLDER "
            f"--name {name}_pretrained --model test --netG unet_256 --norm batch --dataset_mode single"
            f"{_checkpoints_flag(checkpoints_dir)}")


def _parser(catalog: Catalog) -> argparse.ArgumentParser:
    what = "model" if catalog.is_model else "dataset"
    out_env = ENV_CHECKPOINTS_DIR if catalog.is_model else ENV_DATASETS_DIR
    epilog = (
        f"available {what}s: {', '.join(catalog.names)}\n\n"
        "environment variables:\n"
        f"  {ENV_BASE[catalog.technique]}  folder on the server (default {DEFAULT_SERVER}/{catalog.technique})\n"
        f"  {ENV_SERVER}  server root holding cyclegan/ and pix2pix/ (default {DEFAULT_SERVER})\n"
        f"  {out_env}  where to put the {what} instead of {default_dir(catalog, {}).relative_to(REPO_ROOT)}/\n"
        "  PYTHON  the Python interpreter the script runs (default: python, else python3)\n\n"
        "A broken-off download is kept as NAME.part and resumed when the command is run again."
    )
    parser = argparse.ArgumentParser(prog=catalog.script, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description=f"Download a {catalog.technique} {what} from the "
                                                 f"reference's server.")
    parser.add_argument("name", nargs="?", metavar="NAME", help=f"the {what} to download")
    parser.add_argument("--dir", type=Path, default=None,
                        help=f"output folder (default ${out_env} or {default_dir(catalog, {})})")
    parser.add_argument("--retries", type=int, default=2, help="retries of a broken-off transfer (default 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds (default 60)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``main([CATALOG, NAME, ...])`` with CATALOG one of the keys of ``CATALOGS``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in CATALOGS:
        raise UserError(f"the first argument must be one of {', '.join(CATALOGS)}")
    catalog = CATALOGS[argv[0]]
    parser = _parser(catalog)
    args = parser.parse_args(argv[1:])
    what = "model" if catalog.is_model else "dataset"
    if args.name is None:
        parser.print_usage(sys.stderr)
        raise UserError(f"name a {what}; available: {', '.join(catalog.names)}")
    if args.name not in catalog.names:
        raise UserError(f"unknown {what} {args.name!r}; available: {', '.join(catalog.names)}")
    if args.name in catalog.refused:
        print(CITYSCAPES_NOTICE, file=sys.stderr)
        sys.exit(1)
    if args.retries < 0:
        raise UserError("--retries must be 0 or more")
    out_dir = args.dir if args.dir is not None else default_dir(catalog)
    if catalog.is_model:
        target = download_model(catalog, args.name, out_dir, args.retries, args.timeout)
        datasets_dir = default_dir(CATALOGS["cyclegan-dataset"])
        print(f"Saved {args.name} to {target}")
        print("Test it with:")
        print(f"  {suggested_test_command(catalog, args.name, out_dir, datasets_dir)}")
        if catalog.technique == "pix2pix":
            print(pix2pix_notes(args.name, out_dir))
    else:
        target = download_dataset(catalog, args.name, out_dir, args.retries, args.timeout)
        print(f"Dataset {args.name} is in {target}")


def cli() -> None:
    """Entry point of the wrappers: log plain lines, turn bad input into one error line."""
    setup_logging()
    run_cli(main)


if __name__ == "__main__":
    cli()
