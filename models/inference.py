"""Translate your own images with a trained generator: any image size, tiles for very large images, and a
small Python API. Run from the repository root (or put it on ``sys.path``)::

    from PIL import Image
    from models.inference import Translator

    translator = Translator.from_run("horse2zebra_pretrained")  # ./checkpoints/horse2zebra_pretrained/latest_net_G.pth
    translator(Image.open("horse.jpg")).save("zebra.png")

``from_run`` reads the architecture (``--netG``, ``--ngf``, ``--norm``, ...) from the run's ``train_opt.txt``;
whatever is still unknown (a downloaded pretrained model has no options file) is read off the checkpoint's keys
and shapes. The generators only accept sides that are multiples of 4 (ResNet) or of 128/256 (U-Net), so images
are padded (reflect, or replicate where the image is too small to reflect) and the result is cropped back to the
input's size. Networks always run in eval mode (batch norm with running statistics, no dropout) without
gradients.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn

from options.base_options import convert_saved_value, parse_saved_options
from util.errors import UserError
from util.util import tensor2im

from . import networks
from .networks import generator_multiple

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
DEFAULT_TILE_OVERLAP = 32
_MIN_WEIGHT = 1e-6  # tile weights never reach 0, so every pixel has a defined blend
# checkpoint names tried, in order, when no network is named: pix2pix / test models, then CycleGAN's A -> B
AUTO_NETS = ("G", "G_A")


###############################################################################
# Sizes: padding to the generator's multiple and tiles
###############################################################################


def _pad_side(x: torch.Tensor, amount: int, dim: int) -> torch.Tensor:
    """Pad ``amount`` pixels after the end of spatial ``dim`` (2 = height, 3 = width)."""
    if amount == 0:
        return x
    pad = (0, 0, 0, amount) if dim == 2 else (0, amount, 0, 0)
    mode = "reflect" if amount < x.shape[dim] else "replicate"
    return F.pad(x, pad, mode=mode)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Pad an N x C x H x W batch at the bottom and right so both sides are multiples of ``multiple``.

    Reflect padding continues the image without a hard edge; where the padding would be as large as the image
    (a small image through a U-Net) replicate padding is used for that side. Returns the padded batch and the
    original (H, W) for ``crop_to``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected an N x C x H x W batch, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    x = _pad_side(x, -h % multiple, 2)
    x = _pad_side(x, -w % multiple, 3)
    return x, (h, w)


def crop_to(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Undo ``pad_to_multiple``: keep the top-left ``size`` = (H, W)."""
    return x[..., : size[0], : size[1]]


def check_tiling(tile: int, overlap: int, multiple: int) -> None:
    """Reject tile settings that cannot work for a generator with this multiple (UserError naming the flag)."""
    if tile < 0:
        raise UserError(f"--tile_size must be 0 (off) or positive, got {tile}")
    if overlap < 0:
        raise UserError(f"--tile_overlap must be 0 or more, got {overlap}")
    if 0 < tile < multiple:
        raise UserError(f"--tile_size {tile} is smaller than {multiple}, the side every input of this generator "
                        f"must be a multiple of; use --tile_size {multiple} or more")


def _tile_starts(size: int, tile: int, stride: int) -> List[int]:
    """Start offsets of tiles of length ``tile`` covering ``size``; the last tile ends flush with the edge."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def _window(length: int, overlap: int, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    """1-D blending weights of a tile: 1 inside; at each end that borders another tile, ~0 over the outer
    quarter of ``overlap`` (pixels that see the tile's edge within the network's reach) and a raised-cosine
    rise over the middle half. Neighbouring windows add up to 1, and image borders keep full weight because
    no other tile covers them."""
    weights = torch.ones(length)
    margin = overlap // 4
    ramp = max(overlap - 2 * margin, 1)
    t = (torch.arange(ramp, dtype=torch.float32) + 0.5) / ramp
    rise = torch.cat([torch.zeros(margin), 0.5 - 0.5 * torch.cos(math.pi * t)])[:length]
    rise = rise.clamp(min=_MIN_WEIGHT)
    if ramp_start:
        weights[: rise.numel()] = torch.minimum(weights[: rise.numel()], rise)
    if ramp_end:
        weights[-rise.numel():] = torch.minimum(weights[-rise.numel():], rise.flip(0))
    return weights


def translate_tiled(net: nn.Module, x: torch.Tensor, tile: int, overlap: int = DEFAULT_TILE_OVERLAP,
                    multiple: int = 4) -> torch.Tensor:
    """Run ``net`` on overlapping ``tile`` x ``tile`` pieces of ``x`` (N x C x H x W) and blend them.

    Peak memory is that of one tile instead of the whole image: ``x`` and the result may stay on the CPU
    while each tile runs on the network's device. Tile starts stay on the generator's grid
    (multiples of ``multiple``), so the effective overlap is ``overlap`` rounded up to that grid. Where tiles
    overlap, a tile's weight is ~0 in the outer quarter of the overlap and rises smoothly (raised cosine) over
    the middle half, so seams do not show. Networks without global statistics (``--norm none``, batch norm in
    eval mode) then give the whole-image result wherever a quarter of the overlap covers the network's reach
    around a tile edge. Instance norm normalises each tile with its own statistics, so its result only comes
    close to a whole-image pass.
    """
    check_tiling(tile, overlap, multiple)
    if tile == 0:
        raise UserError("--tile_size must be positive for tiled translation")
    tile = tile // multiple * multiple
    padded, size = pad_to_multiple(x, multiple)
    height, width = padded.shape[-2:]
    tile_h, tile_w = min(tile, height), min(tile, width)
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    overlap = tile - stride
    net_device = next(iter(net.parameters()), x).device
    out: Optional[torch.Tensor] = None
    weight_sum = torch.zeros(1, 1, height, width, device=x.device)
    rows, cols = _tile_starts(height, tile_h, stride), _tile_starts(width, tile_w, stride)
    for top in rows:
        for left in cols:
            piece = net(padded[..., top: top + tile_h, left: left + tile_w].to(net_device)).to(x.device)
            if out is None:
                out = torch.zeros(piece.shape[0], piece.shape[1], height, width, dtype=piece.dtype, device=x.device)
            wy = _window(tile_h, overlap, top > 0, top + tile_h < height)
            wx = _window(tile_w, overlap, left > 0, left + tile_w < width)
            weight = (wy[:, None] * wx[None, :]).to(device=x.device, dtype=piece.dtype)
            out[..., top: top + tile_h, left: left + tile_w] += piece * weight
            weight_sum[..., top: top + tile_h, left: left + tile_w] += weight
    assert out is not None
    return crop_to(out / weight_sum, size)


def translate_tensor(net: nn.Module, x: torch.Tensor, multiple: int, tile: int = 0,
                     overlap: int = DEFAULT_TILE_OVERLAP) -> torch.Tensor:
    """``net`` applied to a batch of any size: padded and cropped back, or in tiles when ``tile`` > 0."""
    if tile > 0:
        return translate_tiled(net, x, tile, overlap, multiple)
    padded, size = pad_to_multiple(x, multiple)
    return crop_to(net(padded), size)


###############################################################################
# The generator's architecture and its checkpoint
###############################################################################


@dataclass
class GeneratorSpec:
    """The flags that shape a generator (the names and defaults of train.py / test.py)."""

    netG: str = "resnet_9blocks"
    ngf: int = 64
    norm: str = "instance"
    no_dropout: bool = False
    input_nc: int = 3
    output_nc: int = 3

    @property
    def multiple(self) -> int:
        return generator_multiple(self.netG)

    def build(self) -> nn.Module:
        """The network for inference: syncbatch becomes batch norm (same keys, same eval-mode result, no
        process group needed)."""
        norm = "batch" if self.norm == "syncbatch" else self.norm
        return networks.define_G(self.input_nc, self.output_nc, self.ngf, self.netG, norm, not self.no_dropout)


ARCHITECTURE_FLAGS = tuple(f.name for f in fields(GeneratorSpec))


def add_architecture_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--netG --ngf --norm --no_dropout --input_nc --output_nc``; a flag left out stays None (not given)."""
    parser.add_argument("--netG", type=str, default=None, choices=networks.NET_G_CHOICES,
                        help="generator architecture (default: the run's train_opt.txt, else read off the file)")
    parser.add_argument("--ngf", type=int, default=None, help="# of gen filters in the last conv layer")
    parser.add_argument("--norm", type=str, default=None, choices=networks.NORM_CHOICES,
                        help="normalization of the generator")
    parser.add_argument("--no_dropout", action="store_true", default=None, help="the generator has no dropout")
    parser.add_argument("--input_nc", type=int, default=None, help="# of input image channels")
    parser.add_argument("--output_nc", type=int, default=None, help="# of output image channels")
    return parser


def read_run_architecture(run_dir: PathLike) -> Dict[str, Any]:
    """The generator flags saved in ``run_dir/train_opt.txt`` (empty when the run has no options file)."""
    path = Path(run_dir) / "train_opt.txt"
    if not path.is_file():
        return {}
    try:
        saved = parse_saved_options(str(path))
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}") from err
    actions = {a.dest: a for a in add_architecture_flags(argparse.ArgumentParser())._actions}
    values: Dict[str, Any] = {}
    for flag in ARCHITECTURE_FLAGS:
        if flag in saved:
            try:
                values[flag] = convert_saved_value(actions[flag], saved[flag])
            except (TypeError, ValueError):
                raise UserError(f"{path}: cannot read {flag} = {saved[flag]!r}") from None
    return values


def architecture_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """The generator flags that the keys and shapes of a checkpoint reveal (empty if it is not a generator).

    Dropout leaves no key in a U-Net and batch norm looks like syncbatch; neither matters in eval mode.
    """
    layout = networks._read_layout(state_dict)
    if layout is None or not layout.is_generator:
        return {}
    names = {("resnet", 9): "resnet_9blocks", ("resnet", 6): "resnet_6blocks",
             ("unet", 8): "unet_256", ("unet", 7): "unet_128"}
    found: Dict[str, Any] = {"norm": layout.norm}
    if (layout.family, layout.depth) in names:
        found["netG"] = names[(layout.family, layout.depth)]
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


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    """A torch.device; asking for CUDA where there is none is a UserError rather than a crash later."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise UserError(f"device {device!r} is not a valid torch device (try 'cpu' or 'cuda:0')") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asks for a GPU, but CUDA is not available here; use device='cpu'")
    return resolved


def load_generator(path: PathLike, device: Union[str, torch.device] = "cpu",
                   **flags: Any) -> Tuple[nn.Module, GeneratorSpec]:
    """Build the generator that ``path`` holds and load it, in eval mode without gradients.

    ``flags`` (netG, ngf, norm, no_dropout, input_nc, output_nc; None = not given) win; flags not given are
    read off the file's keys, then the defaults of train.py apply. A file that does not fit the flags raises
    ``CheckpointMismatchError`` naming the flag that differs.
    """
    unknown = sorted(set(flags) - set(ARCHITECTURE_FLAGS))
    if unknown:
        raise TypeError(f"unknown generator flag(s) {', '.join(unknown)}; known: {', '.join(ARCHITECTURE_FLAGS)}")
    state_dict = networks.load_checkpoint_file(path)
    detected = architecture_from_state_dict(state_dict)
    given = {k: v for k, v in flags.items() if v is not None}
    spec = GeneratorSpec(**{**asdict(GeneratorSpec()), **detected, **given})
    if spec.netG not in networks.NET_G_CHOICES:
        raise UserError(f"--netG {spec.netG!r} is not a known generator; "
                        f"choose one of {' | '.join(networks.NET_G_CHOICES)}")
    net = spec.build()
    networks.load_network_weights(net, state_dict, str(path), hints=asdict(spec))
    net.to(resolve_device(device)).eval()
    for param in net.parameters():
        param.requires_grad_(False)
    logger.info("loaded %s (%s)", path, ", ".join(f"{k}={v}" for k, v in asdict(spec).items()))
    return net, spec


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
