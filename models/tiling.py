"""Running a generator on images of any size: padding to its size multiple and cropping back, or overlapping
tiles blended without seams for images too large to translate at once (test.py's --tile_size, the inference
API)."""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from util.errors import UserError

DEFAULT_TILE_OVERLAP = 32
_MIN_WEIGHT = 1e-6  # tile weights never reach 0, so every pixel has a defined blend


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
