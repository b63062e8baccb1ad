"""Multi-process training with PyTorch's own engine: torch.distributed + DistributedDataParallel, launched by torchrun.

``torchrun --nproc_per_node N train.py ...`` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR in each process;
``setup`` joins the process group (NCCL on GPUs, gloo on the CPU). Everything else here is a no-op in a plain
one-process run, so train.py and test.py call these helpers unconditionally. Which process writes files is
decided in one place, ``util.fileio.is_main_process``.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn

from util.errors import UserError

logger = logging.getLogger(__name__)

def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher setting the standard variables) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def setup(device: torch.device) -> None:
    """Join the process group torchrun prepared: NCCL for CUDA devices, gloo for the CPU."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) < 2 or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs: Dict[str, Any] = {"backend": backend}
    if device.type == "cuda":
        kwargs["device_id"] = device  # binds NCCL to this process's GPU at once
    dist.init_process_group(**kwargs)
    logger.info("rank %d of %d joined the %s process group", rank(), world_size(), backend)


def cleanup(completed: bool = False) -> None:
    """Leave the process group. After a ``completed`` run every rank first waits for the others: a rank that
    tears down its gloo connections while another still finishes its last collective can abort at exit
    ("terminate called without an active exception"); after a failure there may be nobody left to wait for."""
    if dist.is_available() and dist.is_initialized():
        if completed and is_distributed():
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _collective_device() -> torch.device:
    """NCCL reduces CUDA tensors, gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def mean_over_ranks(values: Mapping[str, float]) -> Dict[str, float]:
    """Each value averaged over the ranks (the logged losses of a DDP run are those of the global batch)."""
    if not is_distributed() or not values:
        return dict(values)
    t = torch.tensor([float(v) for v in values.values()], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    t /= world_size()
    return dict(zip(values.keys(), t.tolist()))


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on one (a stop request must stop all ranks at the same step)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any) -> List[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not is_distributed():
        return [obj]
    out: List[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def shared_seed(seed: Optional[int]) -> int:
    """The data-order seed all ranks agree on: ``--seed``, or rank 0's random draw."""
    if seed is not None:
        return int(seed)
    return int(broadcast_object(int(torch.randint(0, 2**31 - 1, (1,)).item())))


def training_sampler(opt: argparse.Namespace) -> Optional[Any]:
    """What ``data.create_dataset`` needs for a DDP training run (a ShardSampler per rank); None outside DDP,
    where the loader shuffles from the global RNG as before."""
    if not is_distributed():
        return None
    seed = shared_seed(opt.seed)
    return lambda ds: ShardSampler(int(min(len(ds), opt.max_dataset_size)), world_size(), rank(),
                                   not opt.serial_batches, seed)


class ShardSampler(torch.utils.data.Sampler):
    """This rank's share of the epoch's sample order, from a given global position on.

    The order is a permutation drawn from ``seed + epoch`` (or the identity for ``--serial_batches``), the
    same on every rank; rank r takes positions ``start + r, start + r + W, ...``. In training the order is
    padded by repeating its head so every rank takes the same number of steps (a rank that ran out would leave
    the others waiting in the gradient all-reduce); test time, which has no collectives per batch, asks for
    no padding. ``start`` (global samples already done this epoch) lets a resumed run, on any number of
    processes, continue the epoch where it stopped without replaying it.
    """

    def __init__(self, size: int, num_replicas: int, rank: int, shuffle: bool, seed: int, pad: bool = True) -> None:
        self.size, self.num_replicas, self.rank = size, num_replicas, rank
        self.shuffle, self.seed, self.pad = shuffle, seed, pad
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.start = epoch, 0

    def set_start(self, start: int) -> None:
        self.start = start

    def remaining(self) -> List[int]:
        """The epoch's global order from ``start`` on, padded to a multiple of the number of replicas."""
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        rest = order[self.start:]
        if not rest or not self.pad:
            return rest
        total = math.ceil(len(rest) / self.num_replicas) * self.num_replicas
        return (rest * math.ceil(total / len(rest)))[:total]

    def __iter__(self) -> Iterator[int]:
        return iter(self.remaining()[self.rank::self.num_replicas])

    def __len__(self) -> int:
        if not self.pad:
            return len(range(self.start + self.rank, self.size, self.num_replicas))
        return math.ceil(max(0, self.size - self.start) / self.num_replicas)


class _AllReduceSum(torch.autograd.Function):
    """Sum over the DDP ranks whose gradient is the sum of the ranks' gradients (each rank's loss depends on
    every rank's input through the shared statistics)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm(nn.BatchNorm2d):
    """Batch norm whose statistics span every DDP rank; plain batch norm outside DDP and in eval mode.

    PyTorch's nn.SyncBatchNorm (and DDP around it) refuses CPU modules, so on GPUs ``wrap`` (below) turns these
    layers into nn.SyncBatchNorm; elsewhere this forward sums ``x`` and then ``(x - mean)^2`` over
    all ranks with autograd-aware all-reduces, so a 2-process run with batch 1 normalises (and backpropagates)
    like a 1-process run with batch 2. The state_dict keys are those of BatchNorm2d.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not is_distributed() or not self.training:
            return super().forward(input)
        all_reduce = _AllReduceSum.apply
        dims = [0] + list(range(2, input.dim()))
        count = input.numel() // input.shape[1] * dist.get_world_size()
        mean = all_reduce(input.sum(dims)) / count
        shape = [1, -1] + [1] * (input.dim() - 2)
        centred = input - mean.reshape(shape)
        var = all_reduce((centred * centred).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
                self.running_var.mul_(1 - momentum).add_(var.detach() * (count / max(count - 1, 1)) * momentum)
        out = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out


def convert_sync_batchnorm(net: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer of ``net`` by SyncBatchNorm, keeping the same parameter and buffer objects
    (the optimizers already hold the parameters). On CUDA use ``nn.SyncBatchNorm.convert_sync_batchnorm``."""
    if isinstance(net, nn.modules.batchnorm._BatchNorm) and not isinstance(net, (SyncBatchNorm, nn.SyncBatchNorm)):
        sync = SyncBatchNorm(net.num_features, net.eps, net.momentum, net.affine, net.track_running_stats)
        if net.affine:
            sync.weight, sync.bias = net.weight, net.bias
        sync.running_mean, sync.running_var = net.running_mean, net.running_var
        sync.num_batches_tracked = net.num_batches_tracked
        sync.train(net.training)
        return sync
    for name, child in net.named_children():
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            setattr(net, name, converted)
    return net


def wrap(net: nn.Module, device: torch.device, sync_batchnorm: bool) -> nn.Module:
    """``net`` in DistributedDataParallel (batch norm made synchronised first when asked); unchanged outside DDP.

    Buffers are not re-broadcast at every forward: with synchronised batch norm the running statistics are the
    same on every rank, and the broadcast would cost one collective per call.
    """
    if not is_distributed():
        return net
    if sync_batchnorm:  # PyTorch's kernel on GPUs; on the CPU (gloo) ours, which DDP accepts there
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net) if device.type == "cuda" else convert_sync_batchnorm(net)
    if not any(p.requires_grad for p in net.parameters()):
        return net
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=device_ids, forward_sync_buffers=False)


def without_ddp(net: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper: calls through it set up no gradient all-reduce (frozen networks)."""
    return net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net


# what the collective backends write when a peer has gone (the DDP reducer raises them as plain RuntimeErrors)
_LOST_PEER_MARKERS = ("gloo", "NCCL", "Connection reset", "Connection closed", "ProcessGroup", "timed out")


def lost_peer(err: BaseException) -> bool:
    """True when ``err`` is a collective that failed because another rank died or hung."""
    if isinstance(err, dist.DistError):
        return True
    return isinstance(err, RuntimeError) and is_distributed() and any(m in str(err) for m in _LOST_PEER_MARKERS)


def launch_for_gpu_ids(gpu_ids: Sequence[int], argv: Sequence[str]) -> bool:
    """``python train.py --gpu_ids 0,1`` outside torchrun: start one DDP process per listed GPU through
    torch.distributed.run (what ``torchrun --nproc_per_node N`` does) and return True; False when nothing to do.
    """
    if len(gpu_ids) < 2 or launched_by_torchrun():
        return False
    from torch.distributed import run as torchrun

    logger.info("--gpu_ids %s: starting %d DDP processes, as torchrun --standalone --nproc_per_node %d would",
                ",".join(map(str, gpu_ids)), len(gpu_ids), len(gpu_ids))
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpu_ids))
    ids = ",".join(str(i) for i in range(len(gpu_ids)))
    args = list(argv)
    for i, a in enumerate(args):
        if a == "--gpu_ids" and i + 1 < len(args):
            args[i + 1] = ids
        elif a.startswith("--gpu_ids="):
            args[i] = f"--gpu_ids={ids}"
    try:
        torchrun.main(["--standalone", "--nproc_per_node", str(len(gpu_ids)), sys.argv[0], *args])
    except Exception as err:  # torchrun's ChildFailedError: the failing rank has already printed its own line
        raise UserError(f"the {len(gpu_ids)}-process DDP run failed ({type(err).__name__}); see the ranks' "
                        f"output above") from err
    return True


def check_batch_size(opt: argparse.Namespace) -> None:
    """Log what --batch_size means under DDP (per process), so the global batch is never a surprise."""
    if is_distributed():
        logger.info("DDP: %d processes x --batch_size %d = global batch %d", world_size(), opt.batch_size,
                    world_size() * opt.batch_size)
