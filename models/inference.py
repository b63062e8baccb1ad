"""Translate your own images with a trained generator: any image size, tiles for very large images, and a
small Python API. Run from the repository root (or put it on ``sys.path``)::

    from PIL import Image
    from models.inference import Translator

    translator = Translator.from_run("horse2zebra_pretrained")  # ./checkpoints/horse2zebra_pretrained/latest_net_G.pth
    translator(Image.open("horse.jpg")).save("zebra.png")

``from_run`` reads the architecture (``--netG``, ``--ngf``, ``--norm``, ...) from the run's ``train_opt.txt``;
whatever is still unknown (a downloaded pretrained model has no options file) is read off the checkpoint's keys
and shapes. ``from_file`` also takes the files scripts/export.py writes: TorchScript ``.pt`` and ``.onnx`` (run
by onnxruntime, an optional package), whose architecture is stored in the file's metadata.

A generator only accepts sides that are multiples of its size multiple (models/architectures.py: 4 for ResNets,
128/256 for U-Nets), so images are padded and the result is cropped back to the input's size, or run in tiles
(models/tiling.py). Networks always run in eval mode (batch norm with running statistics, no dropout) without
gradients.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn

from util.device import resolve_device
from util.errors import UserError
from util.fileio import load_checkpoint_file
from util.saved_options import read_saved_flags
from util.util import tensor2im

from . import architectures, networks
from .architectures import DEFAULTS, GENERATOR_FLAGS, add_architecture_flags
from .checkpoint import load_network_weights
from .tiling import DEFAULT_TILE_OVERLAP, check_tiling, translate_tensor, translate_tiled

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
# checkpoint names tried, in order, when no network is named: pix2pix / test models, then CycleGAN's A -> B
AUTO_NETS = ("G", "G_A")
# the name of the metadata inside an exported TorchScript file (an ``_extra_files`` entry)
TORCHSCRIPT_METADATA = "metadata.json"
MODEL_SUFFIXES = (".pth", ".pt", ".onnx")


###############################################################################
# The generator's architecture and its checkpoint
###############################################################################


@dataclass
class GeneratorSpec:
    """The flags that shape a generator (the names and defaults of train.py / test.py)."""

    netG: str = DEFAULTS["netG"]
    ngf: int = DEFAULTS["ngf"]
    norm: str = DEFAULTS["norm"]
    no_dropout: bool = DEFAULTS["no_dropout"]
    input_nc: int = DEFAULTS["input_nc"]
    output_nc: int = DEFAULTS["output_nc"]

    @property
    def multiple(self) -> int:
        return architectures.generator(self.netG).multiple

    def build(self) -> nn.Module:
        """The network for inference: syncbatch becomes batch norm (same keys, same eval-mode result, no
        process group needed)."""
        norm = "batch" if self.norm == "syncbatch" else self.norm
        return networks.define_G(self.input_nc, self.output_nc, self.ngf, self.netG, norm, not self.no_dropout)


def add_generator_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--netG --ngf --norm --no_dropout --input_nc --output_nc``; a flag left out stays None (not given)."""
    return add_architecture_flags(parser, GENERATOR_FLAGS, given_only=True)


def read_run_architecture(run_dir: PathLike) -> Dict[str, Any]:
    """The generator flags saved in ``run_dir/train_opt.txt`` (empty when the run has no options file)."""
    return read_saved_flags(Path(run_dir) / "train_opt.txt", add_generator_flags(argparse.ArgumentParser()),
                            GENERATOR_FLAGS)


def architecture_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """The generator flags that the keys and shapes of a checkpoint reveal (empty if it is not a generator).

    Dropout leaves no key in a U-Net and batch norm looks like syncbatch; neither matters in eval mode.
    """
    layout = architectures.read_layout(state_dict)
    if layout is None or not layout.is_generator:
        return {}
    found: Dict[str, Any] = {"norm": layout.norm, **(architectures.name_for(layout) or {})}
    if layout.dropout is not None:
        found["no_dropout"] = not layout.dropout
    for flag, value in (("ngf", layout.width), ("input_nc", layout.in_nc), ("output_nc", layout.out_nc)):
        if value is not None:
            found[flag] = value
    return found


def resolve_run_checkpoint(run_dir: PathLike, epoch: Union[str, int] = "latest", net: Optional[str] = None) -> Path:
    """``run_dir/{epoch}_net_{net}.pth``; with ``net`` None the first of G, G_A that exists."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} not found (check the name and --checkpoints_dir)")
    for candidate in ([net] if net else AUTO_NETS):
        path = run_dir / f"{epoch}_net_{candidate}.pth"
        if path.is_file():
            return path
    available = sorted(p.name for p in run_dir.glob("*_net_G*.pth"))
    wanted = f"{epoch}_net_{net}.pth" if net else " or ".join(f"{epoch}_net_{n}.pth" for n in AUTO_NETS)
    raise UserError(f"no {wanted} in {run_dir}; generator checkpoints there: "
                    f"{', '.join(available) if available else 'none'} (check the epoch and the network name)")


def run_directory(run: PathLike, checkpoints_dir: PathLike = "./checkpoints") -> Path:
    """A run given as a folder path, or as a name inside ``checkpoints_dir``."""
    path = Path(run)
    if path.is_dir() and ((path / "train_opt.txt").is_file() or any(path.glob("*_net_*.pth"))):
        return path
    return Path(checkpoints_dir) / run


def load_generator(path: PathLike, device: Union[str, torch.device] = "cpu",
                   **flags: Any) -> Tuple[nn.Module, GeneratorSpec]:
    """Build the generator that ``path`` holds and load it, in eval mode without gradients.

    ``flags`` (netG, ngf, norm, no_dropout, input_nc, output_nc; None = not given) win; flags not given are
    read off the file's keys, then the defaults of train.py apply. A file that does not fit the flags raises
    ``CheckpointMismatchError`` naming the flag that differs.
    """
    unknown = sorted(set(flags) - set(GENERATOR_FLAGS))
    if unknown:
        raise TypeError(f"unknown generator flag(s) {', '.join(unknown)}; known: {', '.join(GENERATOR_FLAGS)}")
    state_dict = load_checkpoint_file(path)
    detected = architecture_from_state_dict(state_dict)
    given = {k: v for k, v in flags.items() if v is not None}
    spec = GeneratorSpec(**{**asdict(GeneratorSpec()), **detected, **given})
    net = spec.build()
    load_network_weights(net, state_dict, str(path), hints=asdict(spec))
    net.to(resolve_device(device)).eval()
    for param in net.parameters():
        param.requires_grad_(False)
    logger.info("loaded %s (%s)", path, ", ".join(f"{k}={v}" for k, v in asdict(spec).items()))
    return net, spec


def export_metadata(spec: GeneratorSpec) -> Dict[str, str]:
    """What a consumer of an exported file needs to feed it, stored inside the file (strings, for ONNX)."""
    return {"value_range": "[-1, 1]", "layout": "NCHW", "size_multiple": str(spec.multiple),
            "generator": json.dumps(asdict(spec))}


def spec_from_metadata(meta: Mapping[str, str], source: PathLike, **flags: Any) -> GeneratorSpec:
    """The generator an exported file holds, from its metadata; ``flags`` given (not None) win, and a file
    without metadata (exported elsewhere) takes the flags and then train.py's defaults."""
    given = {k: v for k, v in flags.items() if v is not None}
    saved: Dict[str, Any] = {}
    if "generator" in meta:
        try:
            saved = {k: v for k, v in json.loads(meta["generator"]).items() if k in GENERATOR_FLAGS}
        except (ValueError, AttributeError) as err:
            raise UserError(f"{source}: unreadable generator metadata ({err})") from None
    else:
        logger.warning("%s has no generator metadata (not written by scripts/export.py): assuming %s", source,
                       ", ".join(f"{k}={v}" for k, v in {**asdict(GeneratorSpec()), **given}.items()))
    return GeneratorSpec(**{**asdict(GeneratorSpec()), **saved, **given})


class OnnxGenerator(nn.Module):
    """An ``.onnx`` generator run by onnxruntime on the CPU, called like the PyTorch network (a tensor in, a
    tensor out on the input's device), so padding and tiling treat it like any generator."""

    def __init__(self, path: PathLike) -> None:
        super().__init__()
        if importlib.util.find_spec("onnxruntime") is None:
            raise UserError(f"running {path} needs the optional package onnxruntime: pip install onnxruntime")
        import onnxruntime

        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for unreadable files
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise UserError(f"cannot read ONNX model {path}: {reason}") from err
        self.input_name = self.session.get_inputs()[0].name
        self.metadata: Dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: x.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(out).to(x.device)


def load_torchscript(path: PathLike, device: Union[str, torch.device] = "cpu",
                     **flags: Any) -> Tuple[nn.Module, GeneratorSpec]:
    """A TorchScript generator written by scripts/export.py (architecture from its metadata), in eval mode."""
    extra = {TORCHSCRIPT_METADATA: ""}
    try:
        with warnings.catch_warnings():  # torch.jit.load's deprecation notice: the file format still loads
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.")
            net = torch.jit.load(str(path), map_location=resolve_device(device), _extra_files=extra)
    except (RuntimeError, ValueError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise UserError(f"cannot read TorchScript model {path}: {reason}") from err
    meta = json.loads(extra[TORCHSCRIPT_METADATA]) if extra[TORCHSCRIPT_METADATA] else {}
    return net.eval(), spec_from_metadata(meta, path, **flags)


def load_onnx(path: PathLike, **flags: Any) -> Tuple[nn.Module, GeneratorSpec]:
    """An ONNX generator written by scripts/export.py (architecture from its metadata), run on the CPU."""
    net = OnnxGenerator(path)
    return net, spec_from_metadata(net.metadata, path, **flags)


def load_model_file(path: PathLike, device: Union[str, torch.device] = "cpu",
                    **flags: Any) -> Tuple[nn.Module, GeneratorSpec]:
    """A generator from a ``.pth`` checkpoint, a TorchScript ``.pt`` or an ``.onnx`` file, by its suffix.

    For a ``.pth``, flags not given come from the ``train_opt.txt`` beside it (a run folder), then from the
    file's keys; exported files carry their architecture in their metadata. ONNX always runs on the CPU.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise UserError(f"--model {path}: expected a .pth checkpoint, a TorchScript .pt or an .onnx file")
    if not path.is_file():
        raise UserError(f"--model {path} not found")
    if suffix == ".pth":
        saved = read_run_architecture(path.parent)
        return load_generator(path, device, **{**saved, **{k: v for k, v in flags.items() if v is not None}})
    if suffix == ".pt":
        return load_torchscript(path, device, **flags)
    return load_onnx(path, **flags)


###############################################################################
# Images <-> tensors
###############################################################################


def image_to_tensor(image: Image.Image, channels: int = 3) -> torch.Tensor:
    """A PIL image as a 1 x C x H x W tensor in [-1, 1], with the data loader's conversion."""
    image = image.convert("L" if channels == 1 else "RGB")
    tensor = TF.to_tensor(image)
    return TF.normalize(tensor, [0.5] * tensor.shape[0], [0.5] * tensor.shape[0]).unsqueeze(0)


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """The first image of a batch in [-1, 1] as a PIL image (rounded and clipped like test.py's results);
    one channel gives a grayscale image."""
    array = tensor2im(tensor)
    image = Image.fromarray(array)
    channels = tensor.shape[-3]
    return image.convert("L") if channels == 1 else image


###############################################################################
# The Python API
###############################################################################


class Translator:
    """A loaded generator that translates PIL images or tensors of any size.

    ``translator(image)`` returns a PIL image of the same size; ``translator(tensor)`` (C x H x W or
    N x C x H x W in [-1, 1]) returns a tensor of the same layout, size and device. Pass ``tile=`` (pixels) to
    translate large images in overlapping tiles with bounded memory.
    """

    def __init__(self, net: nn.Module, spec: GeneratorSpec, device: Union[str, torch.device] = "cpu") -> None:
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.spec = spec

    @classmethod
    def from_run(cls, run: PathLike, checkpoints_dir: PathLike = "./checkpoints", epoch: Union[str, int] = "latest",
                 net: Optional[str] = None, device: Union[str, torch.device] = "cpu",
                 **flag_overrides: Any) -> "Translator":
        """The generator of a training run: ``run`` is a run folder or a name in ``checkpoints_dir``.

        ``net`` picks the file ``{epoch}_net_{net}.pth`` (``'G'`` for pix2pix, ``'G_A'``/``'G_B'`` for the
        two CycleGAN directions); None takes G, else G_A. Architecture flags come from ``train_opt.txt``;
        ``flag_overrides`` (e.g. ``ngf=32``) replace them.
        """
        run_dir = run_directory(run, checkpoints_dir)
        path = resolve_run_checkpoint(run_dir, epoch, net)
        flags = {**read_run_architecture(run_dir), **{k: v for k, v in flag_overrides.items() if v is not None}}
        generator, spec = load_generator(path, device, **flags)
        return cls(generator, spec, device)

    @classmethod
    def from_checkpoint(cls, path: PathLike, netG: Optional[str] = None, ngf: Optional[int] = None,
                        norm: Optional[str] = None, no_dropout: Optional[bool] = None, input_nc: Optional[int] = None,
                        output_nc: Optional[int] = None, device: Union[str, torch.device] = "cpu") -> "Translator":
        """A generator from one ``.pth`` file; flags left as None are read off the file's keys and shapes."""
        generator, spec = load_generator(path, device, netG=netG, ngf=ngf, norm=norm, no_dropout=no_dropout,
                                         input_nc=input_nc, output_nc=output_nc)
        return cls(generator, spec, device)

    @classmethod
    def from_file(cls, path: PathLike, device: Union[str, torch.device] = "cpu", **flags: Any) -> "Translator":
        """A generator from a ``.pth``, TorchScript ``.pt`` or ``.onnx`` file (see ``load_model_file``)."""
        generator, spec = load_model_file(path, device, **flags)
        return cls(generator, spec, "cpu" if isinstance(generator, OnnxGenerator) else device)

    @property
    def multiple(self) -> int:
        """Inputs are padded to multiples of this size (and the outputs cropped back)."""
        return self.spec.multiple

    def __call__(self, image: Union[Image.Image, torch.Tensor], tile: int = 0,
                 overlap: int = DEFAULT_TILE_OVERLAP) -> Union[Image.Image, torch.Tensor]:
        return self.translate(image, tile=tile, overlap=overlap)

    def translate(self, image: Union[Image.Image, torch.Tensor], tile: int = 0,
                  overlap: int = DEFAULT_TILE_OVERLAP) -> Union[Image.Image, torch.Tensor]:
        """Translate a PIL image (returns a PIL image) or a tensor in [-1, 1] (returns a tensor)."""
        check_tiling(tile, overlap, self.multiple)
        if isinstance(image, Image.Image):
            batch = image_to_tensor(image, self.spec.input_nc)
            return tensor_to_image(self._run(batch, tile, overlap))
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"translate() takes a PIL image or a tensor, got {type(image).__name__}")
        if image.dim() not in (3, 4):
            raise UserError(f"expected a C x H x W or N x C x H x W tensor, got shape {tuple(image.shape)}")
        batch = image if image.dim() == 4 else image.unsqueeze(0)
        out = self._run(batch.float(), tile, overlap).to(image.device)
        return out if image.dim() == 4 else out[0]

    def _run(self, batch: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
        """Whole images go to the network's device; tiled ones stay where they are and only tiles move."""
        if batch.shape[1] != self.spec.input_nc:
            raise UserError(f"the generator takes {self.spec.input_nc}-channel images, got {batch.shape[1]} "
                            f"channels (shape {tuple(batch.shape)})")
        self.net.eval()
        with torch.no_grad():
            if tile > 0:
                return translate_tiled(self.net, batch, tile, overlap, self.multiple)
            return translate_tensor(self.net, batch.to(self.device), self.multiple)
