"""Checkpoint files of networks: the format saved, the repairs old reference files need, and a mismatch message
that names the flag which most likely differs.

The network families and their key layouts come from the table in models/architectures.py, so a network
registered there is recognised here without an edit.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from util.errors import UserError
from util.fileio import check_state_dict

from . import architectures


class CheckpointMismatchError(UserError):
    """A checkpoint's keys or shapes do not fit the network built from the current flags."""


###############################################################################
# Checkpoint files
###############################################################################

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _unwrap(net: nn.Module) -> nn.Module:
    """The plain network inside DataParallel / DistributedDataParallel / torch.compile wrappers."""
    while True:
        if isinstance(net, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            net = net.module
        elif isinstance(getattr(net, "_orig_mod", None), nn.Module):
            net = net._orig_mod
        else:
            return net


def state_dict_for_saving(net: nn.Module) -> Dict[str, torch.Tensor]:
    """The reference file format: the unwrapped network's state_dict (no prefix) as a CPU copy."""
    state = _unwrap(net).state_dict()
    saved: Dict[str, torch.Tensor] = OrderedDict(
        (key, value.detach().to("cpu", copy=True)) for key, value in state.items())
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        saved._metadata = metadata  # type: ignore[attr-defined]
    return saved


def _strip_wrapper_prefix(key: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    return key


def load_network_weights(net: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str,
                         hints: Optional[Mapping[str, object]] = None) -> None:
    """Load ``state_dict`` into ``net`` strictly, after the repairs that old reference files need.

    Repairs: ``module.`` / ``_orig_mod.`` prefixes are stripped; running statistics stored for instance-norm
    layers that keep none (pretrained files from 2018) are dropped; a missing BatchNorm
    ``num_batches_tracked`` (pre-0.4 files) takes the network's current value. Anything else that does not fit
    raises ``CheckpointMismatchError`` naming ``source`` and the flag that most likely differs; ``hints``
    holds the current flag values used in that message.
    """
    check_state_dict(state_dict, source)
    target = _unwrap(net)
    sd: Dict[str, torch.Tensor] = {_strip_wrapper_prefix(k): v for k, v in state_dict.items()}
    modules = dict(target.named_modules())
    for key in list(sd):
        owner_name, _, leaf = key.rpartition(".")
        owner = modules.get(owner_name)
        if isinstance(owner, nn.modules.instancenorm._InstanceNorm):
            if leaf == "num_batches_tracked" or (leaf in ("running_mean", "running_var")
                                                 and owner.running_mean is None):
                del sd[key]
    for name, module in modules.items():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.num_batches_tracked is not None:
            prefix = f"{name}." if name else ""
            if f"{prefix}running_mean" in sd and f"{prefix}num_batches_tracked" not in sd:
                sd[f"{prefix}num_batches_tracked"] = module.num_batches_tracked.detach().clone()

    expected = target.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong_shape = [(k, tuple(sd[k].shape), tuple(expected[k].shape))
                   for k in expected if k in sd and sd[k].shape != expected[k].shape]
    if missing or unexpected or wrong_shape:
        reasons = _diagnose(sd, expected, hints or {})
        details = _mismatch_details(missing, unexpected, wrong_shape)
        raise CheckpointMismatchError(f"checkpoint {source} does not fit the network: {'; '.join(reasons)} "
                                      f"({details})")
    try:
        target.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        reason = (str(err).strip().splitlines() or ["load_state_dict failed"])[0][:300]
        raise CheckpointMismatchError(f"checkpoint {source} does not fit the network: {reason}") from err


def _examples(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (", ..." if len(items) > limit else "")


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def _mismatch_details(missing: Sequence[str], unexpected: Sequence[str],
                      wrong_shape: Sequence[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]) -> str:
    parts = []
    if missing:
        parts.append(f"{_count(len(missing), 'key', 'keys')} missing from the file, e.g. {_examples(missing)}")
    if unexpected:
        parts.append(f"{_count(len(unexpected), 'unexpected key', 'unexpected keys')} in the file, "
                     f"e.g. {_examples(unexpected)}")
    if wrong_shape:
        shown = [f"{k}: file {list(a)} vs network {list(b)}" for k, a, b in wrong_shape]
        parts.append(f"{_count(len(wrong_shape), 'shape mismatch', 'shape mismatches')}, e.g. {_examples(shown, 2)}")
    return "; ".join(parts)


###############################################################################
# Naming the flag a checkpoint disagrees with
###############################################################################

_NORM_EVIDENCE = {"batch": "it has BatchNorm keys", "instance": "its convs have biases and no norm keys",
                  "none": "it has no norm keys and its inner convs no biases"}


def _hint(hints: Mapping[str, object], key: str, fallback: object) -> object:
    value = hints.get(key)
    return fallback if value is None else value


def _current_arch(net_layout: architectures.Layout, hints: Mapping[str, object]) -> str:
    """``--netG is unet_256`` / ``--netD is n_layers with --n_layers_D 5`` from the hints, else the table's name."""
    kind = architectures.GENERATOR if net_layout.is_generator else architectures.DISCRIMINATOR
    flag = "netG" if net_layout.is_generator else "netD"
    value = hints.get(flag)
    entry = architectures.find(kind, value) if isinstance(value, str) else None
    if entry is None or entry.layout.read is not net_layout.read:  # e.g. pix2pixHD's encoder, loaded beside G
        return f"the network is {architectures.describe(net_layout)}"
    current = f"--{flag} is {value}"
    depth_flag = entry.layout.depth_flag if entry else None
    if depth_flag and hints.get(depth_flag) is not None:
        current += f" with --{depth_flag} {hints[depth_flag]}"
    return current


def _diagnose(file_sd: Mapping[str, torch.Tensor], net_sd: Mapping[str, torch.Tensor],
              hints: Mapping[str, object]) -> List[str]:
    """Phrases naming the flags whose values the checkpoint most likely disagrees with."""
    hinted = [architectures.find(kind, value) for kind, value in
              ((architectures.GENERATOR, hints.get("netG")), (architectures.DISCRIMINATOR, hints.get("netD")))
              if isinstance(value, str)]
    net_layout = architectures.read_layout(net_sd, [entry.layout.read for entry in hinted if entry is not None])
    # where two families have the same keys, the file is read as the kind of network being loaded
    file_layout = architectures.read_layout(file_sd, [net_layout.read] if net_layout else [])
    if file_layout is None:
        return [f"its keys ({_examples(list(file_sd))}) do not look like a network of this toolkit"]
    if net_layout is None:
        return [f"it holds a {file_layout.family} ({architectures.describe(file_layout)}), which the network "
                "being loaded is not"]
    if file_layout.is_generator != net_layout.is_generator:
        return [f"it holds a {file_layout.family}, but a {net_layout.family} is being loaded (wrong file?)"]
    reasons = []
    if file_layout.family != net_layout.family or file_layout.depth != net_layout.depth:
        reasons.append(f"it looks like {architectures.describe(file_layout)}, but {_current_arch(net_layout, hints)}")
    elif file_layout.flags != net_layout.flags:
        reasons += _flag_reasons(file_layout, net_layout, hints)
    if file_layout.norm != net_layout.norm:
        reasons.append(f"it looks like --norm {file_layout.norm} ({_NORM_EVIDENCE[file_layout.norm]}), "
                       f"but --norm is {_hint(hints, 'norm', net_layout.norm)}")
    if (file_layout.family == net_layout.family and file_layout.dropout is not None
            and net_layout.dropout is not None and file_layout.dropout != net_layout.dropout):
        if file_layout.dropout:
            reasons.append("it was saved with dropout (its keys leave a slot for it in each block), but the "
                           "network has none: leave out --no_dropout")
        else:
            reasons.append("it was saved without dropout (its keys leave no slot for it), but the network has "
                           "dropout: add --no_dropout")
    width_flag = "ngf" if net_layout.is_generator else "ndf"
    if file_layout.width is not None and net_layout.width is not None and file_layout.width != net_layout.width:
        reasons.append(f"it looks like --{width_flag} {file_layout.width}, but --{width_flag} is "
                       f"{_hint(hints, width_flag, net_layout.width)}")
    if file_layout.in_nc != net_layout.in_nc or file_layout.out_nc != net_layout.out_nc:
        if net_layout.is_generator:
            reasons.append(f"it maps {file_layout.in_nc} to {file_layout.out_nc} channels, but the network maps "
                           f"{net_layout.in_nc} to {net_layout.out_nc} (check {net_layout.channel_flags})")
        elif net_layout.channel_flags != architectures.Layout.channel_flags:
            reasons.append(f"it takes {file_layout.in_nc} input channels, but the network takes {net_layout.in_nc} "
                           f"(check {net_layout.channel_flags})")
        else:
            reasons.append(f"it takes {file_layout.in_nc} input channels, but the network takes {net_layout.in_nc} "
                           "(check --input_nc/--output_nc; the pix2pix discriminator takes input_nc + output_nc)")
    return reasons or ["its keys do not match the network built from the current flags"]


def _flag_reasons(file_layout: architectures.Layout, net_layout: architectures.Layout,
                  hints: Mapping[str, object]) -> List[str]:
    """``it looks like --n_blocks_global 9, but --n_blocks_global is 6`` for each further flag that differs
    (pix2pixHD's networks have several depths)."""
    reasons = []
    current = dict(net_layout.flags)
    for flag, saved in file_layout.flags:
        if saved == current.get(flag):
            continue
        now = _hint(hints, flag, current.get(flag))
        if isinstance(saved, bool):
            reasons.append(f"it was saved {'with' if saved else 'without'} --{flag}, but the network is built "
                           f"{'with' if now else 'without'} it")
        else:
            reasons.append(f"it looks like --{flag} {saved}, but --{flag} is {now}")
    return reasons
