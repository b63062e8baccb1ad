"""The one table of generators and discriminators: ``--netG`` / ``--netD`` name -> builder, size multiple and
checkpoint layout.

Everything that needs to know the networks reads this table: the flag choices (``add_architecture_flags``),
``networks.define_G`` / ``define_D``, the crop check of the options, the checkpoint-mismatch messages
(models/checkpoint.py), the inference API and scripts/export.py. Adding a network is one call here::

    register_generator("unet_32", _unet(5), multiple=32, layout=CheckpointLayout(read_unet_layout, depth=5))

- ``build(**kwargs)`` returns the ``nn.Module``. It is called with keyword arguments only: ``input_nc``,
  ``output_nc``, ``ngf``, ``ndf``, ``norm`` (the flag's value), ``norm_layer`` (its constructor),
  ``use_dropout``, ``n_layers_D`` and any extra architecture flag a model passes to ``define_G``/``define_D``;
  it must accept (``**_``) the ones it does not use.
- A name may hold one placeholder ``<param>``, which accepts any integer >= 1 and passes it to the builder as
  the keyword ``param``: ``resnet_<n_blocks>blocks`` makes ``--netG resnet_4blocks`` build 4 residual blocks.
- ``multiple``: the side length H and W of every input must be a multiple of (a generator's downsampling).
- ``layout``: how a state_dict of this network is recognised, so that a checkpoint that does not fit names the
  flag it was written with. ``read`` returns the ``Layout`` of a state_dict of its family or None for any other
  (readers are tried in registration order); ``depth`` is the depth this name builds, or ``depth_flag`` names
  the flag that sets it (``--n_layers_D``); a placeholder name takes its depth from the placeholder.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from util.errors import UserError

from . import networks, pix2pixhd_networks

GENERATOR = "generator"
DISCRIMINATOR = "discriminator"
_FLAG = {GENERATOR: "netG", DISCRIMINATOR: "netD"}
_PLACEHOLDER = re.compile(r"<(\w+)>")

Builder = Callable[..., nn.Module]
StateDict = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Layout:
    """What a state_dict says about the flags that built it."""

    family: str  # the kind of network its keys belong to, e.g. "ResNet generator"
    depth: int  # resnet: residual blocks; unet: downsamplings; PatchGAN: n_layers; pixel: 0
    depth_unit: str  # how ``depth`` is counted, for networks no name builds ("blocks")
    norm: str  # batch | instance | none (syncbatch has batch's keys)
    dropout: Optional[bool]  # None where dropout leaves no trace in the keys
    width: Optional[int]  # --ngf / --ndf
    in_nc: Optional[int]
    out_nc: Optional[int]
    # flags beside the name that the keys fix, as (flag, value); a bool stands for a store_true flag (pix2pixHD's
    # downsamplings, block counts and scales: its networks have more than one depth)
    flags: Tuple[Tuple[str, Any], ...] = ()
    channel_flags: str = "--input_nc/--output_nc"  # the flags that set in_nc and out_nc, for mismatch messages
    kind: str = ""  # GENERATOR or DISCRIMINATOR, set by read_layout from the table
    read: Optional[Callable[..., Any]] = dataclasses.field(default=None, compare=False)  # the reader that matched

    @property
    def is_generator(self) -> bool:
        return self.kind == GENERATOR


LayoutReader = Callable[[StateDict], Optional[Layout]]


@dataclass(frozen=True)
class CheckpointLayout:
    """How the state_dict of one table entry looks: its family's reader and the depth the entry builds."""

    read: LayoutReader
    depth: Optional[int] = None
    depth_flag: Optional[str] = None


@dataclass(frozen=True)
class Architecture:
    """One entry of the table (after lookup: a concrete name, its placeholder bound into ``build``)."""

    kind: str
    name: str
    build: Builder
    multiple: int
    layout: CheckpointLayout
    help: str = ""
    model: Optional[str] = None  # the one --model it belongs to (its inputs and losses), None: any model

    @property
    def flag(self) -> str:
        return _FLAG[self.kind]


_TABLE: Dict[str, List[Architecture]] = {GENERATOR: [], DISCRIMINATOR: []}


def register(kind: str, name: str, build: Builder, *, multiple: int = 1, layout: CheckpointLayout,
             help: str = "", model: Optional[str] = None) -> None:
    """Add a network of ``kind`` (GENERATOR or DISCRIMINATOR) under ``name``; see the module docstring."""
    if kind not in _TABLE:
        raise ValueError(f"kind must be {GENERATOR!r} or {DISCRIMINATOR!r}, got {kind!r}")
    if len(_PLACEHOLDER.findall(name)) > 1:
        raise ValueError(f"{name!r}: a network name holds at most one <placeholder>")
    if any(entry.name == name for entry in _TABLE[kind]):
        raise ValueError(f"a {kind} named {name!r} is already registered")
    if multiple < 1:
        raise ValueError(f"multiple must be at least 1, got {multiple}")
    _TABLE[kind].append(Architecture(kind, name, build, multiple, layout, help, model))


def register_generator(name: str, build: Builder, *, multiple: int, layout: CheckpointLayout,
                       help: str = "", model: Optional[str] = None) -> None:
    """``register(GENERATOR, ...)``."""
    register(GENERATOR, name, build, multiple=multiple, layout=layout, help=help, model=model)


def register_discriminator(name: str, build: Builder, *, layout: CheckpointLayout, help: str = "",
                           model: Optional[str] = None) -> None:
    """``register(DISCRIMINATOR, ...)``; a discriminator takes any size, so its multiple is 1."""
    register(DISCRIMINATOR, name, build, multiple=1, layout=layout, help=help, model=model)


def check_model(opt: argparse.Namespace) -> None:
    """Refuse a network that belongs to another model (pix2pixHD's take label maps and return feature lists)."""
    for kind in (GENERATOR, DISCRIMINATOR):
        flag = _FLAG[kind]
        entry = find(kind, getattr(opt, flag, None) or "")
        if entry is not None and entry.model is not None and entry.model != opt.model:
            raise UserError(f"argument --{flag}: {entry.name} is the {entry.model} model's network; use it with "
                            f"--model {entry.model}, or choose another --{flag}")


def _pattern(name: str) -> Optional[Tuple[re.Pattern, str]]:
    """(regex of the names a placeholder entry accepts, the builder keyword) or None for a plain name."""
    found = _PLACEHOLDER.search(name)
    if found is None:
        return None
    regex = re.escape(name[: found.start()]) + r"([1-9][0-9]*)" + re.escape(name[found.end():])
    return re.compile(regex + r"\Z"), found.group(1)


def find(kind: str, name: str) -> Optional[Architecture]:
    """The entry that builds ``name`` (placeholder bound), or None when no entry does."""
    for entry in _TABLE[kind]:
        if entry.name == name:
            return entry
    for entry in _TABLE[kind]:
        pattern = _pattern(entry.name)
        matched = pattern[0].match(name) if pattern else None
        if matched:
            value = int(matched.group(1))
            return dataclasses.replace(entry, name=name, build=functools.partial(entry.build, **{pattern[1]: value}),
                                       layout=dataclasses.replace(entry.layout, depth=value))
    return None


def lookup(kind: str, name: str) -> Architecture:
    """``find`` that raises a UserError naming the flag and the choices."""
    entry = find(kind, name)
    if entry is None:
        raise UserError(f"--{_FLAG[kind]} {name!r} is not a known {kind}; choose one of {' | '.join(names(kind))}")
    return entry


def generator(name: str) -> Architecture:
    """The generator entry of ``--netG name`` (UserError when unknown)."""
    return lookup(GENERATOR, name)


def discriminator(name: str) -> Architecture:
    """The discriminator entry of ``--netD name`` (UserError when unknown)."""
    return lookup(DISCRIMINATOR, name)


def names(kind: str) -> List[str]:
    """The registered names of ``kind``, placeholders as written (``resnet_<n_blocks>blocks``)."""
    return [entry.name for entry in _TABLE[kind]]


class Choices:
    """A live view of the table for argparse ``choices``: membership follows ``find`` (so patterns match), and
    listing shows the registered names, including networks registered after the parser was built."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and find(self.kind, name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(names(self.kind))


###############################################################################
# Reading a state_dict back to the flags (checkpoint-mismatch messages, inference)
###############################################################################


def read_layout(state_dict: StateDict, prefer: Sequence[LayoutReader] = ()) -> Optional[Layout]:
    """The layout of ``state_dict`` by the first registered reader that recognises it; None if none does.

    ``prefer``: readers to try first, because key layouts can coincide (a pix2pixHD global generator with 2
    downsamplings has a ResNet generator's keys) and the network being loaded tells which one was meant.
    """
    entries = [entry for kind_entries in _TABLE.values() for entry in kind_entries]
    tried = set()
    for entry in sorted(entries, key=lambda e: e.layout.read not in prefer):  # stable: table order otherwise
        if entry.layout.read in tried:
            continue
        tried.add(entry.layout.read)
        layout = entry.layout.read(state_dict)
        if layout is not None:
            return dataclasses.replace(layout, kind=entry.kind, read=entry.layout.read)
    return None


def name_for(layout: Layout) -> Optional[Dict[str, Any]]:
    """The flags ({'netG': 'resnet_6blocks'} or {'netD': 'n_layers', 'n_layers_D': 4}) that build a network
    of ``layout``'s family and depth, or None when no registered name does."""
    candidates = [e for e in _TABLE.get(layout.kind, []) if e.layout.read is layout.read]
    for entry in candidates:
        if entry.layout.depth == layout.depth and not _pattern(entry.name):
            return {entry.flag: entry.name}
    for entry in candidates:
        if _pattern(entry.name) and layout.depth >= 1:
            return {entry.flag: _PLACEHOLDER.sub(str(layout.depth), entry.name)}
        if entry.layout.depth_flag:
            return {entry.flag: entry.name, entry.layout.depth_flag: layout.depth}
    return None


def describe(layout: Layout) -> str:
    """``--netG resnet_6blocks`` / ``--netD n_layers --n_layers_D 4`` (plus the layout's further flags), or
    words where no name builds it."""
    flags = name_for(layout)
    if flags is None:
        return f"a {layout.family} with {layout.depth} {layout.depth_unit}"
    named = [f"--{flag} {value}" for flag, value in flags.items()]
    further = [f"--{flag}" if value is True else f"--{flag} {value}" for flag, value in layout.flags
               if value is not False]  # a store_true flag by its name, where it was given
    return " ".join(named + further)


def _dims(sd: StateDict, key: str) -> Optional[Tuple[int, ...]]:
    value = sd.get(key)
    return tuple(value.shape) if value is not None and value.dim() == 4 else None


def _has_vector(sd: StateDict, key: str) -> bool:
    value = sd.get(key)
    return value is not None and value.dim() == 1


def _norm(sd: StateDict, norm_key: str, conv_key: str) -> str:
    """Batch norm stores a weight vector in the first norm slot; instance norm keeps none but turns the conv's
    bias on (the reference's bias rule); --norm none has neither."""
    return "batch" if _has_vector(sd, norm_key) else "instance" if conv_key in sd else "none"


_RESNET_BLOCK_KEY = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.weight$")
_NLAYER_CONV_KEY = re.compile(r"^model\.(\d+)\.weight$")


def read_resnet_layout(sd: StateDict) -> Optional[Layout]:
    """ResnetGenerator: ``model.{i}.conv_block.{j}`` keys; the blocks' second conv sits at 6 with dropout."""
    block_convs = [(int(m.group(1)), int(m.group(2))) for m in map(_RESNET_BLOCK_KEY.match, sd)
                   if m and sd[m.group(0)].dim() == 4]
    if not block_convs or "model1_1.1.weight" in sd:  # the global part of a pix2pixHD local enhancer
        return None
    if min(block for block, _ in block_convs) != 10:  # two downsamplings: else a pix2pixHD global generator
        return None
    depth = len({block for block, _ in block_convs})
    conv_indices = {index for _, index in block_convs}
    dropout = True if 6 in conv_indices else False if 5 in conv_indices else None
    first, last = _dims(sd, "model.1.weight"), _dims(sd, f"model.{17 + depth}.weight")
    return Layout("ResNet generator", depth, "blocks", _norm(sd, "model.2.weight", "model.1.bias"), dropout,
                  first and first[0], first and first[1], last and last[0])


def read_unet_layout(sd: StateDict) -> Optional[Layout]:
    """UnetGenerator: nested ``model.model.1.model.3.model...`` keys, one level per downsampling."""
    if "model.model.0.weight" not in sd:
        return None
    depth, prefix = 1, "model.model.1.model"
    while f"{prefix}.1.weight" in sd:
        depth, prefix = depth + 1, f"{prefix}.3.model"
    first, last = _dims(sd, "model.model.0.weight"), _dims(sd, "model.model.3.weight")
    return Layout("U-Net generator", depth, "downsamplings",
                  _norm(sd, "model.model.1.model.2.weight", "model.model.0.bias"), None,
                  first and first[0], first and first[1], last and last[1])


def read_nlayer_layout(sd: StateDict) -> Optional[Layout]:
    """NLayerDiscriminator: ``model.{i}.weight`` convs, n_layers + 2 of them."""
    if "model.0.weight" not in sd:
        return None
    convs = [m for m in map(_NLAYER_CONV_KEY.match, sd) if m and sd[m.group(0)].dim() == 4]
    first = _dims(sd, "model.0.weight")
    return Layout("PatchGAN discriminator", len(convs) - 2, "layers", _norm(sd, "model.3.weight", "model.2.bias"),
                  None, first and first[0], first and first[1], None)


def read_pixel_layout(sd: StateDict) -> Optional[Layout]:
    """PixelDiscriminator: ``net.{i}`` keys."""
    if "net.0.weight" not in sd:
        return None
    first = _dims(sd, "net.0.weight")
    return Layout("pixel discriminator", 0, "layers", _norm(sd, "net.3.weight", "net.2.bias"), None,
                  first and first[0], first and first[1], None)


###############################################################################
# The networks of this toolkit
###############################################################################


def _resnet(*, input_nc: int, output_nc: int, ngf: int, norm_layer: networks.NormLayer, use_dropout: bool,
            n_blocks: int, **_: Any) -> nn.Module:
    return networks.ResnetGenerator(input_nc, output_nc, ngf, norm_layer=norm_layer, use_dropout=use_dropout,
                                    n_blocks=n_blocks)


def _unet(num_downs: int) -> Builder:
    def build(*, input_nc: int, output_nc: int, ngf: int, norm_layer: networks.NormLayer, use_dropout: bool,
              **_: Any) -> nn.Module:
        return networks.UnetGenerator(input_nc, output_nc, num_downs, ngf, norm_layer=norm_layer,
                                      use_dropout=use_dropout)
    return build


def _basic(*, input_nc: int, ndf: int, norm_layer: networks.NormLayer, **_: Any) -> nn.Module:
    return networks.NLayerDiscriminator(input_nc, ndf, n_layers=3, norm_layer=norm_layer)


def _n_layers(*, input_nc: int, ndf: int, norm_layer: networks.NormLayer, n_layers_D: int, **_: Any) -> nn.Module:
    if n_layers_D < 1:
        raise UserError(f"--n_layers_D must be at least 1 (got {n_layers_D})")
    return networks.NLayerDiscriminator(input_nc, ndf, n_layers_D, norm_layer=norm_layer)


def _pixel(*, input_nc: int, ndf: int, norm_layer: networks.NormLayer, **_: Any) -> nn.Module:
    return networks.PixelDiscriminator(input_nc, ndf, norm_layer=norm_layer)


# A ResNet generator downsamples twice (stride 2); a U-Net 7 (unet_128) or 8 (unet_256) times down to 1x1.
register_generator("resnet_<n_blocks>blocks", _resnet, multiple=4, layout=CheckpointLayout(read_resnet_layout),
                   help="ResNet with n_blocks residual blocks, e.g. resnet_9blocks, resnet_6blocks")
register_generator("unet_256", _unet(8), multiple=256, layout=CheckpointLayout(read_unet_layout, depth=8),
                   help="U-Net with 8 downsamplings")
register_generator("unet_128", _unet(7), multiple=128, layout=CheckpointLayout(read_unet_layout, depth=7),
                   help="U-Net with 7 downsamplings")
register_generator("unet_64", _unet(6), multiple=64, layout=CheckpointLayout(read_unet_layout, depth=6),
                   help="U-Net with 6 downsamplings (64 px images, e.g. the quick start)")
register_discriminator("basic", _basic, layout=CheckpointLayout(read_nlayer_layout, depth=3),
                       help="70x70 PatchGAN")
register_discriminator("n_layers", _n_layers, layout=CheckpointLayout(read_nlayer_layout, depth_flag="n_layers_D"),
                       help="PatchGAN with --n_layers_D layers")
register_discriminator("pixel", _pixel, layout=CheckpointLayout(read_pixel_layout, depth=0),
                       help="1x1 PatchGAN")


# pix2pixHD (--model pix2pixhd, models/pix2pixhd_networks.py). Their depth flags default to the reference's; the
# multiples are those of the defaults (the model computes its own from --n_downsample_global/--n_local_enhancers).
# Their layouts carry every depth flag in ``flags`` (depth 0), so a mismatch names the one that differs.
_SCALE_KEY = re.compile(r"^scale(\d+)_layer(\d+)\.0\.weight$")
_ENHANCER_KEY = re.compile(r"^model(\d+)_1\.1\.weight$")
HD_G_CHANNELS = "--label_nc, --no_instance, --instance_feat/--label_feat, --feat_num and --output_nc"
HD_D_CHANNELS = ("--label_nc, --no_instance and --output_nc; the discriminator takes the generator's input without "
                 "the features, plus the image")


def _global_conv_indices(n_downsampling: int, n_blocks: int) -> List[int]:
    """Where a pix2pixHD global generator (or, without blocks, its encoder) keeps its own convs in ``model``."""
    d = n_downsampling
    down = [1 + 3 * i for i in range(d + 1)]
    up = [3 * d + 4 + n_blocks + 3 * i for i in range(d)]
    return down + up + [6 * d + 5 + n_blocks]


def _read_global_trunk(sd: StateDict, with_output: bool) -> Optional[Tuple[int, int]]:
    """(downsamplings, residual blocks) of a pix2pixHD global generator's ``model.*`` keys, or None."""
    convs = sorted(int(m.group(1)) for m in map(_NLAYER_CONV_KEY.match, sd) if m and sd[m.group(0)].dim() == 4)
    blocks = sorted({int(m.group(1)) for m in map(_RESNET_BLOCK_KEY.match, sd) if m})
    n_convs = len(convs) + (0 if with_output else 1)  # a local enhancer's trunk lacks the output conv
    if n_convs < 2 or n_convs % 2:
        return None
    d = (n_convs - 2) // 2
    expected = _global_conv_indices(d, len(blocks))[: None if with_output else -1]
    if convs != expected or blocks != list(range(3 * d + 4, 3 * d + 4 + len(blocks))):
        return None
    return d, len(blocks)


def read_hd_global_layout(sd: StateDict) -> Optional[Layout]:
    """pix2pixHD GlobalGenerator: ``model.*`` convs around residual blocks at 3 * n_downsample_global + 4."""
    trunk = _read_global_trunk(sd, with_output=True) if "model1_1.1.weight" not in sd else None
    if trunk is None or not trunk[1]:
        return None
    d, n_blocks = trunk
    first, last = _dims(sd, "model.1.weight"), _dims(sd, f"model.{6 * d + 5 + n_blocks}.weight")
    return Layout("pix2pixHD global generator", 0, "blocks", _norm(sd, "model.2.weight", "model.1.bias"), None,
                  first and first[0], first and first[1], last and last[0],
                  flags=(("n_downsample_global", d), ("n_blocks_global", n_blocks)), channel_flags=HD_G_CHANNELS)


def read_hd_encoder_layout(sd: StateDict) -> Optional[Layout]:
    """pix2pixHD Encoder: a global generator's ``model.*`` convs without residual blocks."""
    trunk = _read_global_trunk(sd, with_output=True) if "model1_1.1.weight" not in sd else None
    if trunk is None or trunk[1]:
        return None
    d = trunk[0]
    first, last = _dims(sd, "model.1.weight"), _dims(sd, f"model.{6 * d + 5}.weight")
    return Layout("pix2pixHD encoder", 0, "downsamplings", _norm(sd, "model.2.weight", "model.1.bias"), None,
                  None, first and first[1], last and last[0],
                  flags=(("nef", first and first[0]), ("n_downsample_E", d)),
                  channel_flags="--output_nc (its input) and --feat_num (its output)")


def read_local_enhancer_layout(sd: StateDict) -> Optional[Layout]:
    """pix2pixHD LocalEnhancer: ``model{n}_1`` / ``model{n}_2`` per enhancer beside the global ``model.*``."""
    enhancers = sorted(int(m.group(1)) for m in map(_ENHANCER_KEY.match, sd) if m)
    trunk = _read_global_trunk(sd, with_output=False) if enhancers else None
    if trunk is None:
        return None
    outer = enhancers[-1]
    n_blocks_local = len({k.split(".")[1] for k in sd if k.startswith(f"model{outer}_2.") and ".conv_block." in k})
    first, last = _dims(sd, f"model{outer}_1.1.weight"), _dims(sd, f"model{outer}_2.{n_blocks_local + 4}.weight")
    flags = (("n_local_enhancers", len(enhancers)), ("n_blocks_local", n_blocks_local),
             ("n_downsample_global", trunk[0]), ("n_blocks_global", trunk[1]))
    return Layout("pix2pixHD local enhancer", 0, "enhancers",
                  _norm(sd, f"model{outer}_1.2.weight", f"model{outer}_1.1.bias"), None,
                  first and first[0], first and first[1], last and last[0], flags=flags, channel_flags=HD_G_CHANNELS)


def read_multiscale_layout(sd: StateDict) -> Optional[Layout]:
    """pix2pixHD MultiscaleDiscriminator: ``scale{i}_layer{j}`` (intermediate features) or ``layer{i}.{k}``."""
    blocks = [(int(m.group(1)), int(m.group(2))) for m in map(_SCALE_KEY.match, sd) if m]
    if blocks:
        n_layers = len({j for i, j in blocks if i == 0}) - 2
        num_D = len({i for i, _ in blocks})
        first = _dims(sd, "scale0_layer0.0.weight")
        norm_key, bias_key = "scale0_layer1.1.weight", "scale0_layer1.0.bias"
    elif "layer0.0.weight" in sd:
        n_layers = len([k for k in sd if k.startswith("layer0.") and k.endswith(".weight") and sd[k].dim() == 4]) - 2
        num_D = len({k.split(".")[0] for k in sd if re.match(r"layer\d+\.", k)})
        first = _dims(sd, "layer0.0.weight")
        norm_key, bias_key = "layer0.3.weight", "layer0.2.bias"
    else:
        return None
    return Layout("pix2pixHD multi-scale discriminator", 0, "layers", _norm(sd, norm_key, bias_key), None,
                  first and first[0], first and first[1], None,
                  flags=(("n_layers_D", n_layers), ("num_D", num_D), ("no_ganFeat_loss", not blocks)),
                  channel_flags=HD_D_CHANNELS)


def _hd_global(*, input_nc: int, output_nc: int, ngf: int, norm_layer: networks.NormLayer,
               n_downsample_global: int = 4, n_blocks_global: int = 9, **_: Any) -> nn.Module:
    return pix2pixhd_networks.GlobalGenerator(input_nc, output_nc, ngf, n_downsample_global, n_blocks_global,
                                              norm_layer)


def _hd_local(*, input_nc: int, output_nc: int, ngf: int, norm_layer: networks.NormLayer,
              n_downsample_global: int = 4, n_blocks_global: int = 9, n_local_enhancers: int = 1,
              n_blocks_local: int = 3, **_: Any) -> nn.Module:
    return pix2pixhd_networks.LocalEnhancer(input_nc, output_nc, ngf, n_downsample_global, n_blocks_global,
                                            n_local_enhancers, n_blocks_local, norm_layer)


def _hd_encoder(*, input_nc: int, output_nc: int, ngf: int, norm_layer: networks.NormLayer,
                n_downsample_E: int = 4, **_: Any) -> nn.Module:
    return pix2pixhd_networks.Encoder(input_nc, output_nc, ngf, n_downsample_E, norm_layer)


def _hd_multiscale(*, input_nc: int, ndf: int, n_layers_D: int, norm_layer: networks.NormLayer, num_D: int = 2,
                   get_interm_feat: bool = True, use_sigmoid: bool = False, **_: Any) -> nn.Module:
    return pix2pixhd_networks.MultiscaleDiscriminator(input_nc, ndf, n_layers_D, norm_layer, use_sigmoid, num_D,
                                                      get_interm_feat)


# a global generator with 2 downsamplings has a ResNet generator's keys: loading tells them apart (read_layout)
register_generator("global", _hd_global, multiple=16, layout=CheckpointLayout(read_hd_global_layout, depth=0),
                   help="pix2pixHD global generator, --n_downsample_global, --n_blocks_global", model="pix2pixhd")
register_generator("local", _hd_local, multiple=32, layout=CheckpointLayout(read_local_enhancer_layout, depth=0),
                   help="pix2pixHD local enhancer around a global generator, --n_local_enhancers", model="pix2pixhd")
register_generator("encoder", _hd_encoder, multiple=16, layout=CheckpointLayout(read_hd_encoder_layout, depth=0),
                   help="pix2pixHD feature encoder, instance-wise average pooling, --n_downsample_E", model="pix2pixhd")
register_discriminator("multiscale", _hd_multiscale,
                       layout=CheckpointLayout(read_multiscale_layout, depth=0),
                       help="pix2pixHD multi-scale PatchGAN, --num_D scales, --n_layers_D", model="pix2pixhd")


###############################################################################
# The architecture flags, declared once
###############################################################################

GENERATOR_FLAGS = ("netG", "ngf", "norm", "no_dropout", "input_nc", "output_nc")
DISCRIMINATOR_FLAGS = ("netD", "ndf", "n_layers_D")
# Flags that shape a saved network: test.py and the inference API reuse a training run's values for them.
ARCHITECTURE_FLAGS = GENERATOR_FLAGS + DISCRIMINATOR_FLAGS
DEFAULTS: Dict[str, Any] = {"netG": "resnet_9blocks", "ngf": 64, "norm": "instance", "no_dropout": False,
                            "input_nc": 3, "output_nc": 3, "netD": "basic", "ndf": 64, "n_layers_D": 3}


def add_architecture_flags(parser: argparse.ArgumentParser, flags: Tuple[str, ...] = ARCHITECTURE_FLAGS,
                           given_only: bool = False) -> argparse.ArgumentParser:
    """Add ``flags`` (a subset of ARCHITECTURE_FLAGS) with the reference's names and defaults.

    ``given_only``: every default is None, so a flag the user leaves out can be told apart and filled in from
    a run's train_opt.txt or a checkpoint's keys (the inference API and scripts).
    """
    def default(flag: str) -> Any:
        return None if given_only else DEFAULTS[flag]

    declarations: Dict[str, Dict[str, Any]] = {
        "input_nc": dict(type=int, help="# of input image channels: 3 for RGB and 1 for grayscale"),
        "output_nc": dict(type=int, help="# of output image channels: 3 for RGB and 1 for grayscale"),
        "ngf": dict(type=int, help="# of gen filters in the last conv layer"),
        "ndf": dict(type=int, help="# of discrim filters in the first conv layer"),
        "netD": dict(type=str, choices=Choices(DISCRIMINATOR), metavar="NETD",
                     help=f"discriminator architecture: {_listing(DISCRIMINATOR)}"),
        "netG": dict(type=str, choices=Choices(GENERATOR), metavar="NETG",
                     help=f"generator architecture: {_listing(GENERATOR)}"),
        "n_layers_D": dict(type=int, help="only used if netD==n_layers"),
        "norm": dict(type=str, choices=networks.NORM_CHOICES, help="instance normalization or batch normalization"),
        "no_dropout": dict(action="store_true", help="no dropout for the generator"),
    }
    for flag in flags:
        parser.add_argument(f"--{flag}", default=default(flag), **declarations[flag])
    return parser


def _listing(kind: str) -> str:
    return "; ".join(f"{e.name} ({e.help})" if e.help else e.name for e in _TABLE[kind])
