"""Measure training speed, inference speed and the cost of monitoring, on generated images (no download).

    python scripts/benchmark.py train-step [--device cpu|cuda] [--model cycle_gan] [--netG NAME] [--ngf 64]
        [--ndf 64] [--crop_size 128] [--batch_size 1] [--warmup 2] [--iters 10]
    python scripts/benchmark.py inference [--device cpu] [--netG resnet_9blocks] [--ngf 64] [--size 256]
        [--batch_sizes 1 8] [--warmup 1] [--iters 3] [--e2e_images 10] [--no_e2e]
    python scripts/benchmark.py monitoring [--device cpu] [--ngf 32] [--size 64] [--iters 40] [--freq 5]
        [--warmup_logs 1] [--repeats 1]
    python scripts/benchmark.py all [--device cpu]      # the three above with their defaults
    python scripts/benchmark.py train-step --variants fp32 bf16 fp16 channels_last compile [--reference DIR]
    python scripts/benchmark.py ddp [--nproc 2] [train-step flags]   # 1 process against N under torchrun
    python scripts/benchmark.py train-e2e [train-step flags] [--num_threads 4] [--reference DIR]

Every subcommand also takes ``--json FILE`` (all figures with their raw samples) and ``--verbose``.
Each figure is one line ``NAME  median X UNIT  mean Y UNIT  (details)``; warm-up iterations are excluded.

How each figure is taken:

* ``train-step``: options from ``TrainOptions().parse([...], save=False)`` on a toy dataset drawn in a temporary
  folder, then ``create_model`` + ``setup``; each sample is the time of ``set_input`` + ``optimize_parameters``
  for one batch (loading the next batch is not timed; on CUDA the device is synchronised around each step).
  ``--variants`` gives one figure per precision / memory format / compilation (the speed flags of train.py:
  ``--amp bf16``, ``--amp fp16``, ``--channels_last``, ``--compile``), each with its achieved FLOP/s: the FLOPs
  of one step counted by ``torch.utils.flop_counter`` divided by the median time, and that as a fraction of
  the device's peak (``--peak_tflops``, else a known GPU's dense figure or, on a CPU, cores x clock x FLOPs per
  cycle of its vector units: an estimate), and the peak memory (max allocated on CUDA, peak RSS on the CPU).
  ``--reference DIR`` (a checkout of the reference implementation) also times the reference's own
  ``set_input`` + ``optimize_parameters`` at the same flags, in a subprocess with DIR as its working folder,
  alternating with ours (``--rounds``), and prints the ratio of the medians.
* ``train-e2e``: ``train.py`` run as a user would, for one epoch of ``--warmup`` + ``--iters`` toy images with a
  loss line after each iteration: the wall time between consecutive loss lines as they appear on its output
  (loading the batch with ``--num_threads`` workers, the step, and the loop's own work: loss lines, counters,
  checks), the time until the first line (start-up: imports, options, data, networks) and the whole run.
  ``--reference DIR`` runs the reference's ``train.py`` at the same flags (from DIR, alternated with ours,
  ``--rounds``) and prints the ratio of the per-iteration medians.
* ``ddp``: the train-step figure of 1 process, then of ``--nproc`` processes started by torchrun (DDP, gloo
  on the CPU, NCCL on GPUs; each process measures its own steps, rank 0 reports), as images per second per
  process and in all, and the scaling efficiency (N-process images/s over N times the 1-process figure).
* ``inference model``: ``TestModel`` (``test.py --model test``) with random weights saved and loaded back, in
  eval mode; each sample is ``set_input`` + ``test()`` (no_grad) on one batch, as images per second.
* ``inference test.py``: ``test.py --model test`` run as a user would, on a folder of generated PNGs, for one
  first batch plus ``--e2e_images`` more (rounded up to whole batches). test.py prints a progress line
  ``processing (N)-th image`` after translating each batch (each 5th image at batch size 1), before writing
  its PNGs; the time between consecutive lines, as they appear on its output, is that of reading, translating
  and writing the images between them. So start-up, the first batch (warm-up) and the final page are left
  out; each interval is one sample.
* ``monitoring``: ``train.py`` (cycle_gan on a toy dataset, one epoch of ``--iters`` iterations) twice: with a
  real Visdom server (started here on a free 127.0.0.1 port and stopped at the end), the HTML page and
  ``--use_tensorboard`` (left out, and said so, when tensorboard is not installed), and with all of them off
  (``--display_id 0 --no_html``). Reported per run: the ``time:`` field of loss_log.txt (compute time of the
  logged iterations; with ``--freq`` for print and display alike, each logged iteration also displayed, so the
  field includes the display cost), the wall time per iteration between consecutive loss lines as they
  appear on train.py's output (start-up and checkpoint saves excluded, the display cost spread over
  ``--freq`` iterations), and the whole run's wall time per iteration. The first ``--warmup_logs`` loss
  lines are treated as warm-up (the wall intervals start at the last of them). ``--repeats R`` alternates R
  such pairs of runs and pools their samples. The ``diff`` lines are the monitored figure's median (mean)
  minus the other's.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from data import create_dataset
from datasets import make_toy_dataset as toy  # the toy shapes, drawn in a temporary folder
from models import create_model
from models.base_model import AMP_DTYPES
from monitoring.visdom_server import VisdomServer, VisdomServerError
from options.base_options import OptionParser
from options.test_options import TestOptions
from options.train_options import TrainOptions
from util import distributed
from util.cli import run_cli
from util.device import cpu_has_native
from util.errors import UserError
from util.fileio import atomic_write_text, is_main_process

logger = logging.getLogger("benchmark")

ROOT = Path(__file__).resolve().parents[1]
PROCESSING_LINE = re.compile(r"processing \((\d+)\)-th image")
LOSS_LINE = re.compile(r"\(epoch: (\d+), iters: (\d+), time: ([0-9.]+), data: ([0-9.]+)\)")
VISDOM_ENV = "benchmark"
OUTPUT_TAIL_CHARS = 3000
# train.py flags of each --variants entry
VARIANTS = {"fp32": [], "bf16": ["--amp", "bf16"], "fp16": ["--amp", "fp16"], "channels_last": ["--channels_last"],
            "compile": ["--compile"]}
# dense float32 / bfloat16-float16 tensor-core peaks in TFLOP/s (vendor data sheets, SXM parts)
GPU_PEAK_TFLOPS = {"H200": (67.0, 989.0), "H100": (67.0, 989.0), "A100": (19.5, 312.0), "V100": (15.7, 125.0),
                   "L40S": (91.6, 362.0), "A10": (31.2, 125.0), "T4": (8.1, 65.0)}


@dataclasses.dataclass
class Figure:
    """One measured quantity: its samples (warm-up already excluded), their median and mean, how they were taken."""

    name: str
    unit: str
    samples: List[float]
    details: Dict[str, Any] = dataclasses.field(default_factory=dict)
    median: float = math.nan
    mean: float = math.nan

    def __post_init__(self) -> None:
        if self.samples:
            self.median = statistics.median(self.samples)
            self.mean = statistics.fmean(self.samples)

    @classmethod
    def difference(cls, name: str, a: "Figure", b: "Figure") -> "Figure":
        """``a`` minus ``b``: the difference of the medians and of the means (the runs are not paired)."""
        return cls(name, a.unit, [], {"of": f"({a.name.strip()}) - ({b.name.strip()})"},
                   median=a.median - b.median, mean=a.mean - b.mean)

    def line(self) -> str:
        """The plain-text result line: ``NAME  median X UNIT  mean Y UNIT  (details)``."""
        details = ([f"n={len(self.samples)}"] if self.samples else []) + [f"{k}={v}" for k, v in self.details.items()]
        return (f"{self.name:<30} median {self.median:10.4f} {self.unit:<8} mean {self.mean:10.4f} {self.unit:<8}"
                f" ({', '.join(details)})")

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "median": self.median, "mean": self.mean,
                "samples": list(self.samples), "details": dict(self.details)}


class SubprocessFailed(Exception):
    """train.py or test.py failed while being measured; the message carries the end of its output."""


# ---------------------------------------------------------------------------------------------- helpers
def gpu_ids_for(device: str) -> str:
    """The ``--gpu_ids`` value of ``--device`` (cpu, cuda, cuda:N); CUDA must be there when asked for."""
    if device == "cpu":
        return "-1"
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if match is None:
        raise UserError(f"argument --device: expected cpu, cuda or cuda:N, got {device!r}")
    if not torch.cuda.is_available():
        raise UserError(f"argument --device: {device} asked for, but CUDA is not available on this machine")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise UserError(f"argument --device: GPU {index} does not exist; this machine has "
                        f"{torch.cuda.device_count()} GPU(s)")
    return str(index)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that a wall-clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def endless_batches(dataset: Any) -> Iterator[Dict[str, Any]]:
    """Batches of ``dataset``, epoch after epoch, so that any number of timed steps can be taken."""
    epoch = 1
    while True:
        dataset.set_epoch(epoch)
        yield from dataset
        epoch += 1


def time_calls(step: Callable[[], None], before: Callable[[], None], device: torch.device, warmup: int,
               iters: int, cpu_times: Optional[List[float]] = None) -> List[float]:
    """Seconds of each of ``iters`` calls of ``step`` after ``warmup`` untimed ones; ``before`` runs untimed.

    ``cpu_times`` receives the process CPU seconds of each call: on a CPU shared with other work, wall time
    measures the machine's load as much as the code, CPU time mostly the code.
    """
    times = []
    for i in range(warmup + iters):
        before()
        synchronize(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
            if cpu_times is not None:
                cpu_times.append(time.process_time() - cpu_start)
    return times


def environment(device: str) -> Dict[str, Any]:
    info = {"python": platform.python_version(), "torch": torch.__version__, "device": device,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(int(gpu_ids_for(device)))
    return info


def script_env() -> Dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1")


def run_timed(script: str, args: Sequence[str], cwd: Path, checkout: Path = ROOT) -> Tuple[float, List[Tuple[float, str]]]:
    """Run ``python CHECKOUT/script args`` (this project's, or the reference's with its folder on the path); return
    its wall time and every output line with its arrival time (seconds after the start). A non-zero exit raises
    SubprocessFailed with the end of the output."""
    command = [sys.executable, str(checkout / script), *args]
    logger.info("running %s", " ".join(command))
    env = script_env() if checkout == ROOT else dict(script_env(), PYTHONPATH=str(checkout))
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    lines: List[Tuple[float, str]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append((time.perf_counter() - start, line.rstrip("\n")))
    code = proc.wait()
    wall = time.perf_counter() - start
    if code != 0:
        tail = "\n".join(text for _, text in lines)[-OUTPUT_TAIL_CHARS:]
        raise SubprocessFailed(f"{script} {' '.join(args)} exited with status {code}:\n{tail}")
    return wall, lines


# ---------------------------------------------------------------------------------------------- train-step
def train_argv(args: argparse.Namespace, work: Path, n_train: int = 2, num_threads: int = 0) -> List[str]:
    """train.py flags of a training measurement (a later ``--name`` overrides its run name), on ``n_train`` toy
    images drawn at ``--load_size``, loaded by ``num_threads`` workers (0: in the training process)."""
    load_size = args.load_size or args.crop_size
    toy.make_toy_datasets(work / "toy", size=load_size, n_train=max(n_train, args.batch_size), n_test=1)
    dataroot = work / "toy" / ("shapes_paired" if args.model == "pix2pix" else "shapes")
    argv = ["--dataroot", str(dataroot), "--name", "bench_train", "--checkpoints_dir", str(work / "checkpoints"),
            "--model", args.model, "--gpu_ids", gpu_ids_for(args.device), "--ngf", str(args.ngf),
            "--ndf", str(args.ndf), "--crop_size", str(args.crop_size), "--load_size", str(load_size),
            "--batch_size", str(args.batch_size), "--display_id", "0", "--no_html", "--num_threads", str(num_threads)]
    return argv + (["--netG", args.netG] if args.netG else [])


def count_flops(step: Callable[[], None]) -> int:
    """FLOPs of one call of ``step`` (forward and backward), by PyTorch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def peak_tflops(device: torch.device, reduced: Optional[torch.dtype],
                override: Optional[float]) -> Tuple[Optional[float], str]:
    """The device's peak TFLOP/s for this precision (``reduced``: the autocast dtype, None in float32) and where
    the figure comes from."""
    if override:
        return override, "--peak_tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, (fp32, half) in GPU_PEAK_TFLOPS.items():
            if key in name:
                return (half if reduced else fp32), f"{key} data sheet"
        return None, f"unknown GPU {name}"
    # CPU: two FMA units per core, 256 bits each on AVX2 and on Zen 4's AVX-512 = 16 float32 FMAs per cycle
    mhz = 0.0
    try:
        mhz = max(float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("cpu MHz"))
    except (OSError, ValueError):
        pass
    if not mhz:
        return None, "CPU clock unknown"
    # bf16/fp16 dot products (AVX512_BF16 / AMX) double the rate; emulated ones run at float32's peak at best
    per_cycle = 32 * (2 if reduced and cpu_has_native(reduced) else 1)
    cores = len(os.sched_getaffinity(0))
    return cores * mhz * 1e6 * per_cycle / 1e12, f"estimate {cores} cores x {mhz:.0f} MHz x {per_cycle} FLOP/cycle"


def peak_memory_mb(device: torch.device) -> Tuple[float, str]:
    """Max allocated on CUDA since the last reset; the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak RSS of the process"


def bench_train_step(args: argparse.Namespace, work: Path) -> List[Figure]:
    """Seconds per training iteration (set_input + train_step), at the model level, for each variant."""
    argv = train_argv(args, work)
    distributed.setup(torch.device("cuda") if args.device.startswith("cuda") else torch.device("cpu"))
    figures = []
    ours: Dict[str, List[float]] = {}
    ref_times: List[Tuple[float, float]] = []
    pooled_cpu: Dict[str, List[float]] = {}
    rounds = args.rounds if args.reference else 1
    for round_index in range(rounds):
        for variant in args.variants:
            figure = train_step_figure(args, argv + VARIANTS[variant], variant, pooled_cpu)
            ours.setdefault(variant, []).extend(figure.samples)
            if round_index == rounds - 1:
                figures.append(dataclasses.replace(figure, samples=ours[variant]))
        if args.reference:
            ref_times += reference_train_step(args, argv, work)
    if args.reference:
        ref = Figure("train-step reference", "s/iter", [wall for wall, _ in ref_times],
                     {"dir": args.reference, "rounds": rounds, "same flags": "fp32",
                      "cpu s/iter": round(statistics.median(cpu for _, cpu in ref_times), 4)})
        figures.append(ref)
        ratio = figures[0].median / ref.median
        cpu_ratio = figures[0].details["cpu s/iter"] / ref.details["cpu s/iter"]
        figures.append(Figure("train-step ours/reference", "x", [], {"of": "wall medians",
                                                                     "cpu ratio": round(cpu_ratio, 4)},
                              median=ratio, mean=ratio))
    return figures


def train_step_figure(args: argparse.Namespace, argv: List[str], variant: str,
                      pooled_cpu: Dict[str, List[float]]) -> Figure:
    """One variant's figure; ``pooled_cpu`` collects its CPU seconds over the rounds of a side-by-side run."""
    opt = TrainOptions().parse(argv, save=False)
    dataset = create_dataset(opt, distributed.training_sampler(opt))
    model = create_model(opt)
    model.setup(opt)
    batches = endless_batches(dataset)
    current: Dict[str, Any] = {}

    def fetch() -> None:
        current["batch"] = next(batches)

    def step() -> None:
        model.set_input(current["batch"])
        model.train_step()

    if opt.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(opt.device)
    cpu: List[float] = []
    times = time_calls(step, fetch, opt.device, args.warmup, args.iters, cpu)
    pooled_cpu.setdefault(variant, []).extend(cpu)
    if args.profile and variant == args.variants[0]:
        profile_step(fetch, step, opt.device, args.profile)
    fetch()
    flops = count_flops(step)
    median = statistics.median(times)
    peak, source = peak_tflops(opt.device, AMP_DTYPES.get(opt.amp), args.peak_tflops)
    memory, memory_kind = peak_memory_mb(opt.device)
    name = "train-step" if variant == "fp32" else f"train-step {variant}"
    details = {"model": opt.model, "netG": opt.netG, "ngf": opt.ngf, "ndf": opt.ndf, "crop": opt.crop_size,
               "batch": opt.batch_size, "device": str(opt.device), "warmup": args.warmup,
               "images/s": round(opt.batch_size / median, 3), "GFLOP/iter": round(flops / 1e9, 2),
               "TFLOP/s": round(flops / median / 1e12, 4),
               "of peak": f"{flops / median / 1e12 / peak:.1%}" if peak else "n/a", "peak from": source,
               "peak MiB": round(memory, 1), "memory": memory_kind,
               "cpu s/iter": round(statistics.median(pooled_cpu[variant]), 4)}
    if distributed.is_distributed():
        details["processes"] = distributed.world_size()
    return Figure(name, "s/iter", times, details)


def profile_step(fetch: Callable[[], None], step: Callable[[], None], device: torch.device, path: Path) -> None:
    """Write torch.profiler's table of one iteration, loading its batch included, sorted by self time."""
    from torch.profiler import ProfilerActivity, profile, record_function

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        with record_function("load batch"):
            fetch()
        with record_function("train step"):
            step()
        synchronize(device)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=30)
    atomic_write_text(path, table + "\n")
    print(f"== profile of one iteration written to {path}", flush=True)


REFERENCE_STEP = """
import json, sys, time
import torch
flags, warmup, iters = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sys.argv = ["train.py"] + flags
from options.train_options import TrainOptions
from data import create_dataset
from models import create_model
opt = TrainOptions().parse()
dataset = create_dataset(opt)
model = create_model(opt)
model.setup(opt)
def batches():
    while True:
        yield from dataset
source = batches()
times = []
for i in range(warmup + iters):
    data = next(source)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    model.set_input(data)
    model.optimize_parameters()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    times.append((time.perf_counter() - start, time.process_time() - cpu_start))
print("REFERENCE_TIMES " + json.dumps(times[warmup:]))
"""


def reference_checkout(args: argparse.Namespace) -> Path:
    """The --reference folder, once it is known to hold the reference's code."""
    ref = Path(args.reference).resolve()
    if not (ref / "models" / "cycle_gan_model.py").is_file():
        raise UserError(f"argument --reference: {ref} is not a checkout of the reference "
                        f"(no models/cycle_gan_model.py)")
    return ref


def reference_train_step(args: argparse.Namespace, argv: List[str], work: Path) -> List[Tuple[float, float]]:
    """The reference's (wall, CPU) seconds per iteration at the same flags: its own code, in a subprocess."""
    ref = reference_checkout(args)
    env = dict(os.environ, PYTHONPATH=str(ref))
    proc = subprocess.run([sys.executable, "-c", REFERENCE_STEP, json.dumps(argv), str(args.warmup), str(args.iters)],
                          cwd=work, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("REFERENCE_TIMES "):
            return json.loads(line.split(" ", 1)[1])
    raise SubprocessFailed(f"the reference's train step failed (status {proc.returncode}):\n"
                           f"{(proc.stdout + proc.stderr)[-OUTPUT_TAIL_CHARS:]}")


def bench_ddp(args: argparse.Namespace, work: Path) -> List[Figure]:
    """train-step in 1 process, then in --nproc processes under torchrun: images/s per process and scaling."""
    flags = ["train-step", "--device", args.device, "--model", args.model, "--ngf", str(args.ngf), "--ndf",
             str(args.ndf), "--crop_size", str(args.crop_size), "--batch_size", str(args.batch_size),
             "--warmup", str(args.warmup), "--iters", str(args.iters)] + (["--netG", args.netG] if args.netG else [])
    figures, per_process = [], {}
    for n in (1, args.nproc):
        report = work / f"ddp_{n}.json"
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n)]
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(args.threads_per_process))
        proc = subprocess.run([*launcher, str(ROOT / "scripts" / "benchmark.py"), *flags, "--json", str(report)],
                              cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not report.exists():
            raise SubprocessFailed(f"benchmark under torchrun with {n} process(es) failed:\n"
                                   f"{(proc.stdout + proc.stderr)[-OUTPUT_TAIL_CHARS:]}")
        (step,) = [f for f in json.loads(report.read_text())["figures"] if f["name"] == "train-step"]
        rates = [args.batch_size / t for t in step["samples"]]
        per_process[n] = statistics.median(rates)
        details = {"processes": n, "threads/process": args.threads_per_process, "all processes":
                   f"{per_process[n] * n:.3f} images/s", "device": args.device}
        figures.append(Figure(f"ddp {n} process(es)", "images/s", rates, details))
    efficiency = per_process[args.nproc] / per_process[1]
    figures.append(Figure("ddp scaling efficiency", "x", [], {"of": f"{args.nproc}-process images/s over "
                                                                  f"{args.nproc} x 1-process"},
                          median=efficiency, mean=efficiency))
    return figures


def bench_train_e2e(args: argparse.Namespace, work: Path) -> List[Figure]:
    """train.py as a user runs it, one epoch of ``--warmup + --iters`` images, a loss line per iteration: the wall
    time between loss lines (data loading, the step and the loop's bookkeeping) and until the first one
    (start-up); with ``--reference DIR`` the reference's train.py at the same flags, runs alternated."""
    images = args.warmup + args.iters
    argv = train_argv(args, work, images, args.num_threads)  # draws the images once, for every run
    argv += ["--n_epochs", "1", "--n_epochs_decay", "0", "--print_freq", "1", "--save_epoch_freq", "1000000"]
    checkouts = {"ours": ROOT}
    if args.reference:
        checkouts["reference"] = reference_checkout(args)
    samples: Dict[str, Dict[str, List[float]]] = {who: {"iter": [], "start": [], "total": []} for who in checkouts}
    for round_index in range(args.rounds if args.reference else 1):
        for who, checkout in checkouts.items():
            wall, lines = run_timed("train.py", [*argv, "--name", f"e2e_{who}_{round_index}"], work, checkout)
            stamps = stamped_loss_lines(lines)
            if len(stamps) != images:
                raise SubprocessFailed(f"{who} train.py printed {len(stamps)} loss lines, expected {images}")
            steady = stamps[max(args.warmup - 1, 0):]
            samples[who]["iter"] += [t1 - t0 for (_, t0), (_, t1) in zip(steady, steady[1:])]
            samples[who]["start"].append(stamps[0][1])
            samples[who]["total"].append(wall)
    details = {"model": args.model, "netG": args.netG or "default", "ngf": args.ngf, "crop": args.crop_size,
               "batch": args.batch_size, "num_threads": args.num_threads, "device": args.device}
    figures = []
    for who in checkouts:
        figures += [Figure(f"train.py {who} wall", "s/iter", samples[who]["iter"], dict(details, between="loss lines")),
                    Figure(f"train.py {who} first line", "s", samples[who]["start"], {"includes": "start-up"}),
                    Figure(f"train.py {who} total", "s", samples[who]["total"], {"images": images})]
    if args.reference:
        ours, ref = figures[0], figures[3]
        ratio = ours.median / ref.median
        figures.append(Figure("train.py ours/reference", "x", [], {"of": "wall medians between loss lines"},
                              median=ratio, mean=ours.mean / ref.mean))
    return figures


# ---------------------------------------------------------------------------------------------- inference
def inference_flags(dataroot: Path, work: Path, args: argparse.Namespace, batch_size: int) -> List[str]:
    """The test.py flags shared by the model-level and the end-to-end measurement."""
    return ["--dataroot", str(dataroot), "--name", "bench_infer", "--checkpoints_dir", str(work / "checkpoints"),
            "--model", "test", "--netG", args.netG, "--ngf", str(args.ngf), "--norm", "instance", "--no_dropout",
            "--gpu_ids", gpu_ids_for(args.device), "--crop_size", str(args.size), "--load_size", str(args.size),
            "--batch_size", str(batch_size), "--num_threads", "0"]


def bench_inference(args: argparse.Namespace, work: Path) -> List[Figure]:
    """Images per second of test-time translation: model level (TestModel) and end to end (test.py)."""
    largest = max(args.batch_sizes)
    n_images = largest if args.no_e2e else max(e2e_num_test(b, args.e2e_images) for b in args.batch_sizes)
    toy.make_toy_datasets(work / "toy", size=args.size, n_train=1, n_test=n_images)
    dataroot = work / "toy" / "shapes" / "testA"
    figures: List[Figure] = []
    saved = False
    for batch_size in args.batch_sizes:
        opt = TestOptions().parse(inference_flags(dataroot, work, args, batch_size)
                                  + ["--results_dir", str(work / "results")], save=False)
        model = create_model(opt)
        if not saved:  # random weights, written once so that setup() and test.py load a real checkpoint
            model.save_networks("latest")
            saved = True
        model.setup(opt)
        model.eval()
        batch = next(iter(create_dataset(opt)))

        def step() -> None:
            model.set_input(batch)
            model.test()

        times = time_calls(step, lambda: None, opt.device, args.warmup, args.iters)
        details = {"netG": opt.netG, "ngf": opt.ngf, "size": args.size, "device": str(opt.device),
                   "warmup_batches": args.warmup}
        figures.append(Figure(f"inference model batch={batch_size}", "images/s",
                              [batch_size / t for t in times], details))
    if not args.no_e2e:
        for batch_size in args.batch_sizes:
            figures.append(bench_test_py(args, work, dataroot, batch_size))
    return figures


def e2e_num_test(batch_size: int, extra_images: int) -> int:
    """Images test.py is asked for: the first batch (not timed) plus whole batches covering ``extra_images``."""
    return batch_size * (1 + -(-extra_images // batch_size))


def bench_test_py(args: argparse.Namespace, work: Path, dataroot: Path, batch_size: int) -> Figure:
    """Images per second of test.py between its progress lines, as they appear on its output."""
    num_test = e2e_num_test(batch_size, args.e2e_images)
    results = work / f"results_b{batch_size}"
    _, lines = run_timed("test.py", inference_flags(dataroot, work, args, batch_size)
                         + ["--results_dir", str(results), "--num_test", str(num_test)], ROOT)
    written = list((results / "bench_infer" / "test_latest" / "images").glob("*_fake.png"))
    if len(written) != num_test:
        raise SubprocessFailed(f"test.py --num_test {num_test} wrote {len(written)} result images")
    stamps = [(int(match.group(1)), stamp) for stamp, text in lines
              for match in [PROCESSING_LINE.search(text)] if match]
    samples = [(d1 - d0) / (t1 - t0) for (d0, t0), (d1, t1) in zip(stamps, stamps[1:])]
    if not samples:
        raise SubprocessFailed(f"test.py printed {len(stamps)} progress line(s); need two to time an interval")
    details = {"netG": args.netG, "ngf": args.ngf, "size": args.size, "device": args.device,
               "num_test": num_test, "images_timed": stamps[-1][0] - stamps[0][0],
               "between": "progress lines"}
    return Figure(f"inference test.py batch={batch_size}", "images/s", samples, details)


# ---------------------------------------------------------------------------------------------- monitoring
def loss_log_times(path: Path) -> List[Tuple[int, float]]:
    """(iteration, ``time:`` field) of every loss line in loss_log.txt."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = LOSS_LINE.search(line)
        if match:
            found.append((int(match.group(2)), float(match.group(3))))
    return found


def stamped_loss_lines(lines: List[Tuple[float, str]]) -> List[Tuple[int, float]]:
    """(iteration, arrival time) of the loss lines train.py printed."""
    found = []
    for stamp, text in lines:
        match = LOSS_LINE.search(text)
        if match:
            found.append((int(match.group(2)), stamp))
    return found


def min_loss_lines(warmup_logs: int) -> int:
    """Loss lines a run needs: the warm-up ones, then at least one timed line and one timed interval."""
    return max(warmup_logs + 1, 2)


def train_run(args: argparse.Namespace, work: Path, name: str, extra: List[str]) -> Dict[str, List[float]]:
    """One train.py run; its loss_log ``time:`` samples, steady wall time per iteration, and whole wall time."""
    argv = ["--dataroot", str(work / "toy" / "shapes"), "--name", name, "--checkpoints_dir",
            str(work / "checkpoints"), "--model", "cycle_gan", "--gpu_ids", gpu_ids_for(args.device),
            "--ngf", str(args.ngf), "--ndf", str(args.ngf), "--load_size", str(args.size),
            "--crop_size", str(args.size), "--n_epochs", "1", "--n_epochs_decay", "0", "--print_freq", str(args.freq),
            "--display_freq", str(args.freq), "--update_html_freq", str(args.freq), "--num_threads", "0",
            "--seed", "0", *extra]
    wall, lines = run_timed("train.py", argv, ROOT)
    logged = loss_log_times(work / "checkpoints" / name / "loss_log.txt")
    stamps = stamped_loss_lines(lines)
    if len(logged) < min_loss_lines(args.warmup_logs) or len(stamps) != len(logged):
        raise SubprocessFailed(f"train.py {name}: expected {args.iters // args.freq} loss lines, found "
                               f"{len(logged)} in loss_log.txt and {len(stamps)} on its output")
    # the interval that starts at the last warm-up line covers the first iterations after the warm-up
    steady = stamps[max(args.warmup_logs - 1, 0):]
    per_iter_wall = [(t1 - t0) / (n1 - n0) for (n0, t0), (n1, t1) in zip(steady, steady[1:])]
    return {"time": [t for _, t in logged[args.warmup_logs:]], "wall": per_iter_wall,
            "total": [wall / args.iters]}


def bench_monitoring(args: argparse.Namespace, work: Path) -> List[Figure]:
    """train.py with Visdom + HTML + TensorBoard against train.py with all monitoring off."""
    toy.make_toy_datasets(work / "toy", size=args.size, n_train=args.iters, n_test=1)
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    if not tensorboard:
        print("== note: tensorboard is not installed; the monitored run goes without --use_tensorboard")
    on: Dict[str, List[float]] = {"time": [], "wall": [], "total": []}
    off: Dict[str, List[float]] = {"time": [], "wall": [], "total": []}
    with VisdomServer(work / "visdom_env") as server:
        on_flags = ["--display_id", "1", "--display_server", "http://127.0.0.1", "--display_port", str(server.port),
                    "--display_env", VISDOM_ENV] + (["--use_tensorboard"] if tensorboard else [])
        for repeat in range(args.repeats):  # alternated, so that a slow spell of the machine hits both alike
            for pooled, name, flags in ((on, "monitor_on", on_flags), (off, "monitor_off", ["--display_id", "0",
                                                                                          "--no_html"])):
                for key, values in train_run(args, work, f"{name}_{repeat}", flags).items():
                    pooled[key] += values
        windows = len(server.windows(VISDOM_ENV))  # proof that the runs really talked to it
    if windows == 0:
        raise SubprocessFailed("the monitored train.py runs put no window on the Visdom server")
    common = {"ngf": args.ngf, "size": args.size, "iters": args.iters, "freq": args.freq, "runs": args.repeats,
              "device": args.device}
    on_details = dict(common, visdom_windows=windows, html=True, tensorboard=tensorboard)
    off_details = dict(common, visdom=False, html=False, tensorboard=False)
    figures = []
    for key, label, extra in (("time", "loss_log time", {}), ("wall", "wall", {"between": "loss lines"}),
                              ("total", "wall total", {"includes": "start-up"})):
        with_on = Figure(f"monitoring on  {label}", "s/iter", on[key], dict(on_details, **extra))
        with_off = Figure(f"monitoring off {label}", "s/iter", off[key], dict(off_details, **extra))
        figures += [with_on, with_off, Figure.difference(f"monitoring diff {label}", with_on, with_off)]
    return figures


# ---------------------------------------------------------------------------------------------- CLI
def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_step_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that say what one training step is (train-step and ddp)."""
    parser.add_argument("--model", default="cycle_gan", choices=["cycle_gan", "pix2pix"])
    parser.add_argument("--netG", default=None, help="generator (default: the model's: resnet_9blocks for "
                        "cycle_gan, unet_256 for pix2pix, which needs --crop_size 256)")
    parser.add_argument("--ngf", type=positive, default=64)
    parser.add_argument("--ndf", type=positive, default=64)
    parser.add_argument("--crop_size", type=positive, default=128)
    parser.add_argument("--load_size", type=positive, default=None,
                        help="size the toy images are drawn and loaded at (default: --crop_size)")
    parser.add_argument("--batch_size", type=positive, default=1)
    parser.add_argument("--warmup", type=non_negative, default=2, help="untimed iterations first")
    parser.add_argument("--iters", type=positive, default=10, help="timed iterations")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    common.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the figures here")
    common.add_argument("--verbose", action="store_true", help="log what the models and scripts do (stderr)")
    parser = OptionParser(prog="benchmark.py", description=__doc__.split("\n\n")[0],
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OptionParser)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    train = sub.add_parser("train-step", parents=[common], formatter_class=fmt,
                           help="seconds per training iteration (model level)")
    add_step_flags(train)
    train.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["fp32"],
                       help="one figure each: float32, --amp bf16, --amp fp16, --channels_last, --compile")
    train.add_argument("--peak_tflops", type=float, default=None,
                       help="the device's peak TFLOP/s for the fraction-of-peak column (default: estimated)")
    train.add_argument("--reference", default=None, metavar="DIR",
                       help="a checkout of the reference implementation: time its train step too, side by side")
    train.add_argument("--profile", type=Path, default=None, metavar="FILE",
                       help="write torch.profiler's table of one iteration (batch loading included) here")
    train.add_argument("--rounds", type=positive, default=2,
                       help="with --reference: alternate ours and the reference's this many times, pooled")

    e2e = sub.add_parser("train-e2e", parents=[common], formatter_class=fmt,
                         help="train.py end to end (data loading and start-up included), optionally beside the "
                              "reference's")
    add_step_flags(e2e)
    e2e.add_argument("--num_threads", type=non_negative, default=4,
                     help="train.py's data loader workers (4: both projects' default)")
    e2e.add_argument("--reference", default=None, metavar="DIR",
                     help="a checkout of the reference implementation: run its train.py too, side by side")
    e2e.add_argument("--rounds", type=positive, default=2,
                     help="with --reference: alternate ours and the reference's this many times, pooled")

    ddp = sub.add_parser("ddp", parents=[common], formatter_class=fmt,
                         help="DDP scaling: train-step in 1 process and in --nproc processes under torchrun")
    add_step_flags(ddp)
    ddp.add_argument("--nproc", type=positive, default=2, help="processes of the DDP run")
    ddp.add_argument("--threads_per_process", type=positive, default=1,
                     help="OMP_NUM_THREADS of each process (CPU: cores / processes keeps them from competing)")

    infer = sub.add_parser("inference", parents=[common], formatter_class=fmt,
                           help="images per second at test time (model level and test.py)")
    infer.add_argument("--netG", default="resnet_9blocks")
    infer.add_argument("--ngf", type=positive, default=64)
    infer.add_argument("--size", type=positive, default=256, help="image side in pixels")
    infer.add_argument("--batch_sizes", type=positive, nargs="+", default=[1, 8])
    infer.add_argument("--warmup", type=non_negative, default=1, help="untimed batches first (model level)")
    infer.add_argument("--iters", type=positive, default=3, help="timed batches (model level)")
    infer.add_argument("--e2e_images", type=positive, default=10,
                       help="images test.py translates after its first batch, rounded up to whole batches; with "
                            "batch 1 it reports every 5th image, so at least 5 (10 gives two samples)")
    infer.add_argument("--no_e2e", action="store_true", help="skip the test.py measurement")

    monitor = sub.add_parser("monitoring", parents=[common], formatter_class=fmt,
                             help="cost of Visdom + HTML + TensorBoard in train.py")
    monitor.add_argument("--ngf", type=positive, default=32, help="--ngf and --ndf of the cycle_gan run")
    monitor.add_argument("--size", type=positive, default=64, help="image side in pixels")
    monitor.add_argument("--iters", type=positive, default=40, help="training iterations (images, batch 1)")
    monitor.add_argument("--freq", type=positive, default=5,
                         help="--print_freq, --display_freq and --update_html_freq")
    monitor.add_argument("--warmup_logs", type=non_negative, default=1, help="first loss lines left out")
    monitor.add_argument("--repeats", type=positive, default=1,
                         help="pairs of runs (monitored, then not), alternated; their samples are pooled")

    sub.add_parser("all", parents=[common], formatter_class=fmt, help="the three benchmarks with their defaults")
    return parser


BENCHMARKS: Dict[str, Callable[[argparse.Namespace, Path], List[Figure]]] = {
    "train-step": bench_train_step, "train-e2e": bench_train_e2e, "inference": bench_inference,
    "monitoring": bench_monitoring, "ddp": bench_ddp}
ALL = ("train-step", "inference", "monitoring")  # what ``all`` runs


def check(args: argparse.Namespace) -> None:
    """Flag combinations that cannot give a figure, named before any work starts."""
    gpu_ids_for(args.device)
    if args.command == "inference" and not args.no_e2e and 1 in args.batch_sizes and args.e2e_images < 5:
        raise UserError(f"argument --e2e_images: test.py reports every 5th image at batch size 1, so at least 5 "
                        f"are needed to time an interval, got {args.e2e_images}")
    if args.command == "train-e2e" and args.warmup == 0 and args.iters < 2:
        raise UserError("argument --iters: without warm-up the first loss line starts the timing, so at least 2 "
                        f"iterations are needed to time an interval, got {args.iters}")
    if args.command == "monitoring" and args.iters // args.freq < min_loss_lines(args.warmup_logs):
        raise UserError(f"argument --iters: {args.iters} iterations give {args.iters // args.freq} loss lines at "
                        f"--freq {args.freq}; need at least {min_loss_lines(args.warmup_logs)} with --warmup_logs "
                        f"{args.warmup_logs} to time an interval")


def run_benchmark(args: argparse.Namespace) -> List[Figure]:
    """Run one benchmark in a temporary folder that is removed afterwards; print its lines as they come."""
    if is_main_process():
        print(f"== {args.command} (device {args.device}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads)", flush=True)
    work = Path(tempfile.mkdtemp(prefix=f"benchmark_{args.command}_"))
    try:
        figures = BENCHMARKS[args.command](args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if is_main_process():
        for figure in figures:
            print(figure.line(), flush=True)
    return figures


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "all":
        runs = [parser.parse_args([name, "--device", args.device] + (["--verbose"] if args.verbose else []))
                for name in ALL]
    else:
        runs = [args]
    for run in runs:
        check(run)
    # results go to stdout; logs of the models and data (only with --verbose) to stderr
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s",
                        stream=sys.stderr, force=True)
    figures: List[Figure] = []
    try:
        for run in runs:
            figures += run_benchmark(run)
    except (SubprocessFailed, VisdomServerError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    if args.json is not None and is_main_process():
        report = {"command": ["benchmark.py", *(sys.argv[1:] if argv is None else argv)],
                  "environment": environment(args.device), "figures": [f.to_dict() for f in figures]}
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    run_cli(main)
