"""The model API every model implements (reference names), plus saving and resuming the full training state."""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import logging
import math
import os
import re
import types
from abc import ABC, abstractmethod
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from util import distributed
from util.device import cpu_has_native
from util.errors import UserError
from util.fileio import DiskFullError, atomic_write_group, is_main_process, load_checkpoint_file
from util.image_pool import ImagePool
from util.runlock import finish_interrupted_save
from util.seeding import get_rng_state, set_rng_state

from . import networks
from .architectures import ARCHITECTURE_FLAGS
from .checkpoint import _unwrap, load_network_weights, state_dict_for_saving

logger = logging.getLogger(__name__)

TRAIN_STATE_FORMAT = 1
# the files of a numbered checkpoint set: {epoch}_net_X.pth, iter_{n}_net_X.pth and their _train_state.pth
_NUMBERED_SET_FILE = re.compile(r"^(?P<prefix>(?P<kind>iter_)?(?P<number>\d+))_(net_.+|train_state)\.pth$")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class NonFiniteWeightsError(UserError):
    """A network's weights hold NaN/Inf at a save: the save is refused so the last good checkpoint survives."""


class BaseModel(ABC):
    """Abstract model. Subclasses set ``loss_names``, ``model_names``, ``visual_names`` and ``optimizers``.

    Conventions the generic methods rely on: network ``X`` lives in ``self.netX``, loss ``L`` in
    ``self.loss_L`` and visual ``V`` in ``self.V``.
    """

    def __init__(self, opt: argparse.Namespace) -> None:
        self.opt = opt
        self.gpu_ids = opt.gpu_ids
        self.isTrain = opt.isTrain
        self.device = opt.device
        self.save_dir = os.path.join(opt.checkpoints_dir, opt.name)
        if opt.preprocess != "scale_width" and getattr(opt, "seed", None) is None:
            torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
        self.loss_names: List[str] = []
        self.model_names: List[str] = []
        self.visual_names: List[str] = []
        self.optimizers: List[torch.optim.Optimizer] = []
        self.schedulers: List[Any] = []
        self.image_paths: List[str] = []
        self.metric = 0.0  # used by the plateau learning-rate policy
        self.skipped_steps: List[str] = []  # optimizers whose step the non-finite guard skipped this iteration
        self.last_save: Optional[str] = None  # the last checkpoint this run wrote, for messages
        self._writer: Optional[ThreadPoolExecutor] = None  # writes training checkpoints while training goes on
        self._pending_save: Optional[Future] = None
        self._saved_sets: List[str] = []  # numbered sets this process wrote, oldest first (--keep_last)
        self.amp_dtype: Optional[torch.dtype] = AMP_DTYPES.get(getattr(opt, "amp", "none"))
        if self.amp_dtype is not None and self.device.type == "cpu" and not cpu_has_native(self.amp_dtype):
            logger.warning("--amp %s: this CPU has no native %s instructions (AVX-512 BF16/FP16 or AMX), so "
                           "autocast emulates them and runs slower than float32 (bf16 4-7x slower on an AVX2 "
                           "Zen 3); leave --amp off on this machine", opt.amp, opt.amp)
        # fp16 gradients underflow without loss scaling; bf16 has float32's exponent range and needs none
        self.scaler: Optional[torch.amp.GradScaler] = (
            torch.amp.GradScaler(self.device.type) if self.isTrain and self.amp_dtype is torch.float16 else None)

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add model-specific flags or change defaults of existing ones."""
        return parser

    @abstractmethod
    def set_input(self, input: Dict[str, Any]) -> None:
        """Unpack a batch from the data loader and move it to the device."""

    @abstractmethod
    def forward(self) -> None:
        """Run the forward pass; called by ``optimize_parameters`` and ``test``."""

    @abstractmethod
    def optimize_parameters(self) -> None:
        """Compute losses and gradients and update the weights for one batch."""

    # ------------------------------------------------------------------ set-up and modes
    def setup(self, opt: argparse.Namespace) -> None:
        """Create schedulers (training), load networks (testing or --continue_train), report sizes, then
        apply --channels_last / --compile and, in a DDP training run, wrap the networks."""
        if self.isTrain:
            self.schedulers = [networks.get_scheduler(optimizer, opt) for optimizer in self.optimizers]
            self.guard_optimizers()
        if not self.isTrain:  # train.py itself finishes interrupted saves, under its lock, before anything
            finish_interrupted_save(self.save_dir)
        if not self.isTrain or opt.continue_train:
            self.load_networks(self.load_prefix(opt))
        self.print_networks(opt.verbose)
        self.prepare_networks(opt)

    def prepare_networks(self, opt: argparse.Namespace) -> None:
        """Memory format, compilation and DDP. The parameters stay the same objects (the optimizers hold them)."""
        sync_bn = self.isTrain and not getattr(opt, "no_sync_batchnorm", False)
        for name, net in self.networks().items():
            if getattr(opt, "channels_last", False):
                net = net.to(memory_format=torch.channels_last)
            if getattr(opt, "compile", False):
                net = torch.compile(net)
            if self.isTrain:
                net = distributed.wrap(net, self.device, sync_bn)
            setattr(self, "net" + name, net)

    def frozen(self, net: nn.Module) -> nn.Module:
        """``net`` for a pass whose parameters get no gradient (D while G steps): without its DDP wrapper, so no
        gradient all-reduce is prepared for it, which would wait forever for gradients that never come."""
        return distributed.without_ddp(net)

    # ------------------------------------------------------------------ mixed precision
    def autocast(self) -> contextlib.AbstractContextManager:
        """The ``--amp`` autocast region for forward passes and losses (a no-op in float32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def backward(self, loss: torch.Tensor, inputs: Optional[Sequence[torch.Tensor]] = None) -> None:
        """Backpropagate ``loss`` (into ``inputs`` only, when given) outside autocast, scaled by the fp16
        gradient scaler when there is one."""
        with torch.autocast(self.device.type, enabled=False):
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward(inputs=inputs)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Step ``optimizer``; under fp16 the scaler unscales first and skips the step if a gradient is NaN/Inf."""
        with torch.autocast(self.device.type, enabled=False):
            if self.scaler is not None:
                self.scaler.step(optimizer)
            else:
                optimizer.step()

    @staticmethod
    def load_prefix(opt: argparse.Namespace) -> str:
        """The checkpoint prefix chosen by ``--load_iter`` / ``--epoch``."""
        return f"iter_{opt.load_iter}" if opt.load_iter > 0 else str(opt.epoch)

    def networks(self) -> Dict[str, nn.Module]:
        return OrderedDict((name, getattr(self, "net" + name)) for name in self.model_names)

    def eval(self) -> None:
        """Put every network in eval mode (batch norm uses running statistics, no dropout)."""
        for net in self.networks().values():
            net.eval()

    def test(self) -> None:
        """Forward pass without gradients (under ``--amp``'s autocast), then ``compute_visuals``."""
        with torch.no_grad():
            with self.autocast():
                self.forward()
            self.compute_visuals()

    def compute_visuals(self) -> None:
        """Hook to compute extra images for display (colorization converts Lab to RGB here)."""

    def get_image_paths(self) -> List[str]:
        return self.image_paths

    def graph_input(self) -> "tuple[nn.Module, torch.Tensor]":
        """The network a model graph shows (the first of ``model_names``: the generator) and its input (the
        first of ``visual_names``: the real source image set by ``set_input``)."""
        return _unwrap(self.networks()[self.model_names[0]]), getattr(self, self.visual_names[0], None)

    # ------------------------------------------------------------------ learning rate
    def update_learning_rate(self) -> None:
        """Step every scheduler; called at the end of an epoch, after the optimizers have stepped."""
        if not self.optimizers:
            return
        old_lr = self.optimizers[0].param_groups[0]["lr"]
        for scheduler in self.schedulers:
            if self.opt.lr_policy == "plateau":
                scheduler.step(self.metric)
            else:
                scheduler.step()
        lr = self.optimizers[0].param_groups[0]["lr"]
        logger.info("learning rate %.7f -> %.7f", old_lr, lr)

    def get_learning_rate(self) -> float:
        return self.optimizers[0].param_groups[0]["lr"] if self.optimizers else 0.0

    # ------------------------------------------------------------------ visuals and losses
    def get_current_visuals(self) -> "OrderedDict[str, Any]":
        """Images to show, in ``visual_names`` order, as float32 (autocast leaves some in bf16/fp16)."""
        return OrderedDict((name, _float32(getattr(self, name))) for name in self.visual_names
                           if hasattr(self, name))

    def get_current_losses(self) -> "OrderedDict[str, float]":
        """Loss values as floats, in ``loss_names`` order."""
        losses = OrderedDict()
        for name in self.loss_names:
            value = getattr(self, "loss_" + name)
            losses[name] = float(value.detach()) if torch.is_tensor(value) else float(value)
        return losses

    # ------------------------------------------------------------------ saving and loading
    def network_path(self, prefix: str, name: str) -> str:
        return os.path.join(self.save_dir, f"{prefix}_net_{name}.pth")

    def training_state_path(self, prefix: str) -> str:
        return os.path.join(self.save_dir, f"{prefix}_train_state.pth")

    def save_networks(self, epoch: Union[int, str], counters: Optional[Dict[str, Any]] = None,
                      background: bool = False) -> None:
        """Save each network as ``{epoch}_net_{name}.pth`` (reference format), atomically, as one set.

        With ``counters`` (training), ``{epoch}_train_state.pth`` is written in the same set: optimizers,
        schedulers, image pools, RNG states and the counters, so ``--continue_train`` loses nothing; it also
        records the size and SHA-256 of each network file, so that a resume can tell that it reads one set.
        Weights holding NaN/Inf are never written (NonFiniteWeightsError): the previous set stays as it was.

        ``background``: serialize the set now (a snapshot: the optimizers update their moments in place at the
        next step) and write (and fsync) it in a thread while training goes on. A CycleGAN set is ~320 MB, whose
        writing mostly waits for the disk: seconds at every epoch end, which on small datasets made training
        measurably slower than the reference (which saves far less often). Sets are written one at a time, in
        order; ``wait_for_saves`` waits for the last (and raises its error).
        """
        per_rank = distributed.gather_objects({"rng": get_rng_state(), "epoch_rng": counters.get("epoch_rng")}) \
            if counters is not None else None  # a collective: every rank takes part, rank 0 writes
        if not is_main_process():
            return
        self.wait_for_saves()
        prefix = str(epoch)
        files: Dict[str, bytes] = OrderedDict()
        for name, net in self.networks().items():
            state_dict = state_dict_for_saving(net)
            bad = [key for key, value in state_dict.items()
                   if torch.is_floating_point(value) and not bool(torch.isfinite(value).all())]
            if bad:
                more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
                raise NonFiniteWeightsError(f"the weights of network {name} hold NaN/Inf ({bad[0]}{more}): checkpoint "
                                            f"'{prefix}' not written, {self.describe_last_save()}; lower --lr or "
                                            f"--init_gain")
            files[self.network_path(prefix, name)] = _serialize(state_dict)
        if counters is not None:
            state = self.training_state(counters)
            state["ranks"] = per_rank
            state["files"] = {os.path.basename(path): _fingerprint(data) for path, data in files.items()}
            files[self.training_state_path(prefix)] = _serialize(state)
        described = prefix if counters is None else f"{prefix}, iteration {counters['total_iters']}"
        if not background:
            self._write_set(prefix, described, files)
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-writer")
        self._pending_save = self._writer.submit(self._write_set, prefix, described, files)

    def _write_set(self, prefix: str, described: str, files: Dict[str, bytes]) -> None:
        """Write one serialized checkpoint set atomically, then apply --keep_last (once the new set is in place)."""
        try:
            atomic_write_group([(path, (lambda f, data=data: f.write(data))) for path, data in files.items()])
        except DiskFullError as err:
            raise DiskFullError(f"disk full: no space left in {self.save_dir} to save checkpoint '{prefix}'; "
                                f"nothing was replaced, {self.describe_last_save()}") from err.__cause__
        self.last_save = described
        if getattr(self.opt, "keep_last", 0) > 0:
            self.remove_old_checkpoints(self.opt.keep_last, prefix)

    def wait_for_saves(self) -> None:
        """Block until the checkpoint set being written in the background is on disk; raise its error if any."""
        pending, self._pending_save = self._pending_save, None
        if pending is not None:
            pending.result()

    def describe_last_save(self) -> str:
        """Where the user's last good checkpoint is, as a phrase for error messages."""
        if self.last_save is None:
            return "this run has not saved a checkpoint yet (any older one in the run folder is intact)"
        return f"the last good checkpoint ({self.last_save}) is intact"

    def verify_checkpoint_set(self, prefix: str, state: Dict[str, Any], state_path: str) -> None:
        """Refuse a training state whose network files are not the ones saved with it (a split set)."""
        for name, expected in state.get("files", {}).items():
            path = os.path.join(self.save_dir, name)
            if not os.path.isfile(path):
                raise UserError(f"checkpoint {path} is missing: {state_path} was saved with it")
            if _fingerprint_file(path) != expected:
                raise UserError(f"checkpoint set '{prefix}' is inconsistent: {path} is not the file saved with "
                                f"{state_path} (replaced or damaged since); restore the set or resume from "
                                f"another --epoch")

    def remove_old_checkpoints(self, keep: int, saved: Optional[str] = None) -> List[str]:
        """Remove the numbered sets beyond the ``keep`` newest of each kind (epoch saves, ``iter_`` saves).

        ``saved`` is the set just written. The sets this process wrote are the newest, in the order written;
        sets found in the folder come before them, by number. So a run resumed from an earlier save (``--epoch
        5`` while 6 to 10 are there) keeps its new saves and drops the abandoned ones, instead of removing each
        new save at once because higher numbers outrank it. ``latest`` and ``best_*`` sets never match. Called
        by ``save_networks`` once the new set is in place, so a crash at any point leaves at least ``keep``
        complete sets; what a crash leaves of a set being removed is removed by the next call.
        Returns the removed file names.
        """
        if saved is not None and _NUMBERED_SET_FILE.match(f"{saved}_train_state.pth"):
            self._saved_sets = [s for s in self._saved_sets if s != saved] + [saved]
        sets: Dict[str, Dict[str, List[str]]] = {"epoch": {}, "iter": {}}
        numbers: Dict[str, int] = {}
        for name in os.listdir(self.save_dir):
            found = _NUMBERED_SET_FILE.match(name)
            if found:
                kind = "iter" if found.group("kind") else "epoch"
                sets[kind].setdefault(found.group("prefix"), []).append(name)
                numbers[found.group("prefix")] = int(found.group("number"))

        def age(prefix: str) -> Tuple[int, int]:
            if prefix in self._saved_sets:
                return (1, self._saved_sets.index(prefix))
            return (0, numbers[prefix])

        removed = []
        for numbered in sets.values():
            for prefix in sorted(numbered, key=age)[:-keep]:
                for name in sorted(numbered[prefix]):
                    os.remove(os.path.join(self.save_dir, name))
                    removed.append(name)
        if removed:
            logger.info("--keep_last %d: removed %s", keep, ", ".join(removed))
        return removed

    def load_networks(self, epoch: Union[int, str]) -> None:
        """Load ``{epoch}_net_{name}.pth`` into each network, accepting the reference's older files."""
        for name, net in self.networks().items():
            path = self.network_path(str(epoch), name)
            if not os.path.isfile(path):
                raise UserError(f"checkpoint {path} not found (check --name, --checkpoints_dir, --epoch/--load_iter"
                                f"{', --model_suffix' if hasattr(self.opt, 'model_suffix') else ''})")
            logger.info("loading the model from %s", path)
            state_dict = load_checkpoint_file(path)
            load_network_weights(net, state_dict, path, hints=self.architecture_hints())

    def architecture_hints(self) -> Dict[str, Any]:
        """Flag values that shaped the networks, for checkpoint-mismatch messages (which pick the generator's
        or the discriminator's flags by the kind of network the file holds)."""
        return {k: getattr(self.opt, k) for k in ARCHITECTURE_FLAGS if hasattr(self.opt, k)}

    def training_state(self, counters: Dict[str, Any]) -> Dict[str, Any]:
        """Everything beyond the weights that an uninterrupted run would still have in memory."""
        return {
            "format": TRAIN_STATE_FORMAT,
            "model": self.opt.model,
            "model_names": list(self.model_names),
            "counters": dict(counters),
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
            "schedule": networks.schedule_flags(self.opt),
            "pools": {name: pool.state_dict() for name, pool in self.image_pools().items()},
            "metric": self.metric,
            "rng": get_rng_state(),
            "threads": torch.get_num_threads(),
            "world_size": distributed.world_size(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_training_state(self, prefix: str) -> Optional[Dict[str, Any]]:
        """Restore the state saved beside the ``prefix`` weights; return its counters (None if there is none)."""
        path = self.training_state_path(prefix)
        if not os.path.isfile(path):
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:
            raise UserError(f"cannot read training state {path}: {err}") from err
        if state.get("format") != TRAIN_STATE_FORMAT or state.get("model") != self.opt.model:
            raise UserError(f"training state {path} was written by --model {state.get('model')}, "
                            f"not --model {self.opt.model}")
        if len(state["optimizers"]) != len(self.optimizers) or len(state["schedulers"]) != len(self.schedulers):
            raise UserError(f"training state {path} does not fit this model's optimizers/schedulers")
        self.verify_checkpoint_set(prefix, state, path)
        for optimizer, saved in zip(self.optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        saved_schedule = state.get("schedule", networks.schedule_flags(self.opt))
        same_schedule = saved_schedule == networks.schedule_flags(self.opt)
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            networks.resume_scheduler(scheduler, saved, self.opt.lr, same_schedule)
        if not same_schedule:
            changed = ", ".join(f"--{k} {saved_schedule.get(k)} -> {v}" for k, v in
                                networks.schedule_flags(self.opt).items() if saved_schedule.get(k) != v)
            logger.info("the learning-rate schedule changed (%s): continuing at lr %.7g", changed,
                        self.get_learning_rate())
        for name, pool in self.image_pools().items():
            if name in state["pools"]:
                pool.load_state_dict(state["pools"][name], self.device)
        self.metric = state.get("metric", 0.0)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        counters = dict(state["counters"])
        saved_world, world, rank = state.get("world_size", 1), distributed.world_size(), distributed.rank()
        ranks = state.get("ranks") or [{"rng": state["rng"], "epoch_rng": counters.get("epoch_rng")}]
        if saved_world == world:
            set_rng_state(ranks[rank]["rng"])
            counters["epoch_rng"] = ranks[rank]["epoch_rng"]
        else:
            # another sharding of the data: each rank continues the interrupted epoch from the global position
            if rank < len(ranks):
                set_rng_state(ranks[rank]["rng"])
            counters["epoch_rng"] = None
            counters["resharded"] = True
            logger.warning("the run was saved by %d process(es) and resumes on %d: it continues from the same "
                           "weights, optimizer state and sample count, but not bitwise like an uninterrupted run",
                           saved_world, world)
        threads = state.get("threads")
        if threads is not None and threads != torch.get_num_threads():
            # CPU kernels split their sums by thread count, so the rounding (not the maths) changes
            logger.warning("the run was saved with %d intra-op threads and resumes with %d: it continues correctly "
                           "but not bitwise like an uninterrupted run (set OMP_NUM_THREADS=%d for that)",
                           threads, torch.get_num_threads(), threads)
        logger.info("resumed the training state from %s", path)
        return counters

    # ------------------------------------------------------------------ non-finite guard
    def guard_optimizers(self) -> None:
        """Make every optimizer skip a step whose gradients hold NaN/Inf (``train_step`` then reports it).

        The one place where steps are vetted: the models call ``optimizer.step()`` as in the reference, and a
        gradient scaler (mixed precision), which skips such steps itself, can sit in front of it.
        """
        for index, optimizer in enumerate(self.optimizers):
            if getattr(optimizer, "_guarded_step", False):
                continue
            step = optimizer.step

            def guarded(opt: torch.optim.Optimizer, *args: Any, _step: Any = step, _index: int = index,
                        **kwargs: Any) -> Any:
                if _finite_gradients(opt):
                    return _step(*args, **kwargs)
                self.skipped_steps.append(self.optimizer_label(_index))
                return None

            # a bound method, as the learning-rate schedulers expect of optimizer.step; it calls theirs, which
            # records that the optimizer stepped, so it carries their mark (else they warn at every epoch)
            if hasattr(step, "_wrapped_by_lr_sched"):
                guarded._wrapped_by_lr_sched = True
            optimizer.step = types.MethodType(guarded, optimizer)
            optimizer._guarded_step = True

    def optimizer_label(self, index: int) -> str:
        """A readable name for ``self.optimizers[index]`` (its attribute name, e.g. optimizer_G)."""
        for attr, value in vars(self).items():
            if value is self.optimizers[index] and attr.startswith("optimizer"):
                return attr
        return f"optimizer {index}"

    def train_step(self) -> Optional[str]:
        """One optimisation step on the current batch, under ``--amp``'s autocast and the non-finite guard:
        None for a good step, else what went wrong.

        Optimizers whose gradients hold NaN/Inf did not step (``guard_optimizers``); the losses that are not
        finite are named. Buffers (batch-norm running statistics) are put back as they were before a bad step,
        since its forward pass has already updated them. With fp16 the gradient scaler skips a step whose scaled
        gradients overflowed and lowers its scale (its own recovery, not divergence, so not reported here); its
        once-per-iteration update follows the step.
        """
        buffers = [(b, b.detach().clone()) for net in self.networks().values() for b in net.buffers()]
        with self.autocast():
            self.optimize_parameters()
        if self.scaler is not None:
            self.scaler.update()
        skipped, self.skipped_steps = self.skipped_steps, []
        bad_losses = {name: value for name, value in self.get_current_losses().items() if not math.isfinite(value)}
        if not skipped and not bad_losses:
            return None
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        losses = ", ".join(f"{name}={value}" for name, value in bad_losses.items()) or "none (the gradients are)"
        steps = f"step of {', '.join(skipped)} skipped" if skipped else "no step skipped"
        return f"non-finite losses: {losses}; {steps}"

    def image_pools(self) -> Dict[str, ImagePool]:
        """Every image pool the model holds, by attribute name (saved with the training state)."""
        return OrderedDict((k, v) for k, v in vars(self).items() if isinstance(v, ImagePool))

    # ------------------------------------------------------------------ misc
    def print_networks(self, verbose: bool) -> None:
        """Log the parameter count of each network (and the architecture with --verbose)."""
        logger.info("---------- Networks initialized -------------")
        for name, net in self.networks().items():
            if verbose:
                logger.info("%s", net)
            num_params = sum(p.numel() for p in net.parameters())
            logger.info("[Network %s] Total number of parameters : %.3f M", name, num_params / 1e6)
        logger.info("-----------------------------------------------")

    @staticmethod
    def set_requires_grad(nets: Union[nn.Module, Sequence[Optional[nn.Module]], None], requires_grad: bool = False) -> None:
        """Switch gradients of whole networks on or off (e.g. the discriminators while the generators step)."""
        if not isinstance(nets, (list, tuple)):
            nets = [nets]
        for net in nets:
            if net is not None:
                for param in net.parameters():
                    param.requires_grad = requires_grad

    def unpack_pair(self, input: Dict[str, Any]) -> tuple:
        """(source, target, source paths) of a batch with A and B, swapped for ``--direction BtoA``."""
        AtoB = self.opt.direction == "AtoB"
        source = input["A" if AtoB else "B"].to(self.device, non_blocking=True)
        target = input["B" if AtoB else "A"].to(self.device, non_blocking=True)
        return source, target, input["A_paths" if AtoB else "B_paths"]


def _serialize(obj: Any) -> bytes:
    """``torch.save`` into memory: the bytes are fingerprinted, and a full disk then fails a plain write."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _fingerprint(data: bytes) -> List[Any]:
    return [len(data), hashlib.sha256(data).hexdigest()]


def _fingerprint_file(path: str) -> List[Any]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return [size, digest.hexdigest()]


def _finite_gradients(optimizer: torch.optim.Optimizer) -> bool:
    """True when no gradient of ``optimizer``'s parameters holds NaN/Inf (one device sync, not one per tensor)."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return True
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())


def _float32(value: Any) -> Any:
    """A reduced-precision float tensor as float32; anything else unchanged."""
    if torch.is_tensor(value) and value.is_floating_point() and value.dtype != torch.float32:
        return value.float()
    return value
