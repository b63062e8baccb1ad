"""Turning the device a user asks for into a ``torch.device``: the one resolver behind ``--gpu_ids`` and the
inference API's ``device=``.

Asking for a GPU that is not there is a UserError naming the flag, not a CUDA crash later. The one exception is
``--gpu_ids 0``, the reference's default: without CUDA it falls back to the CPU with a warning, so that the
reference's command lines run on a laptop.
"""
from __future__ import annotations

import logging
import os
from typing import List, Optional, Tuple, Union

import torch

from util.errors import UserError

logger = logging.getLogger(__name__)


def resolve_device(device: Union[str, torch.device], flag: Optional[str] = None) -> torch.device:
    """``device`` ('cpu', 'cuda', 'cuda:1', a torch.device) checked against the GPUs this machine has. A command
    line tool names its ``flag`` (``--device``) so that the message speaks its language, not the Python API's."""
    asked, cpu = (f"{flag} {device}", f"{flag} cpu") if flag else (f"device {str(device)!r}", "device='cpu'")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise UserError(f"{asked} is not a valid torch device (try {cpu} or cuda:0)") from err
    if resolved.type == "cuda":
        _check_gpu(resolved.index, asked, cpu)
    return resolved


def default_device() -> str:
    """'cuda' where this machine has CUDA, else 'cpu': the default of the tools whose --device is optional."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_gpu(index: Optional[int], asked: str, cpu: str) -> None:
    """UserError unless CUDA is there and has GPU ``index`` (None: any); ``asked``/``cpu`` phrase the flag."""
    if not torch.cuda.is_available():
        raise UserError(f"{asked} asks for a GPU, but CUDA is not available on this machine; use {cpu} for the CPU")
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        raise UserError(f"{asked}: GPU {index} does not exist; this machine has {count} GPU(s) (ids 0-{count - 1})")


def resolve_gpu_ids(gpu_ids: str) -> Tuple[List[int], torch.device]:
    """``--gpu_ids`` ('0', '0,1', '-1') as a list of ids and the device of this process.

    Under torchrun (LOCAL_RANK set) each process takes its own id from the list.
    """
    try:
        ids = [int(x) for x in str(gpu_ids).split(",") if x.strip() != ""]
    except ValueError:
        raise UserError(f"argument --gpu_ids: expected a comma list of integers like 0 or 0,1 or -1, "
                        f"got {gpu_ids!r}") from None
    ids = [i for i in ids if i >= 0]
    if not ids:
        return [], torch.device("cpu")
    if ids == [0] and not torch.cuda.is_available():
        logger.warning("WARNING: --gpu_ids %s asked for a GPU but CUDA is not available here; running on "
                       "the CPU (pass --gpu_ids -1 to silence this).", gpu_ids)
        return [], torch.device("cpu")
    for i in ids:
        _check_gpu(i, f"argument --gpu_ids {gpu_ids}", "--gpu_ids -1")
    local_rank = os.environ.get("LOCAL_RANK")
    if local_rank is None:
        first = ids[0]
    elif len(ids) >= int(os.environ.get("LOCAL_WORLD_SIZE", "1")):
        first = ids[int(local_rank)]
    else:  # torchrun started more processes than --gpu_ids lists (e.g. the default 0): one GPU per process
        first = int(local_rank) % torch.cuda.device_count()
    torch.cuda.set_device(first)
    return ids, torch.device("cuda", first)


def cpu_has_native(dtype: torch.dtype) -> bool:
    """Whether this CPU computes ``dtype`` (bfloat16 / float16) convolutions natively, as oneDNN reports it."""
    probe = {torch.bfloat16: "_is_mkldnn_bf16_supported", torch.float16: "_is_mkldnn_fp16_supported"}.get(dtype)
    try:
        return bool(getattr(torch.ops.mkldnn, probe)())
    except (AttributeError, RuntimeError, TypeError):
        return True  # cannot tell: say nothing
