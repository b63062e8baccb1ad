"""Kill train.py at random and during checkpoint saves, then resume: does any run lose work?

    python scripts/fault_benchmark.py [--random_kills 50] [--save_kills 50] [--jobs 2] [--seed 0] [--json FILE]

Every trial trains the same tiny cycle_gan run (seeded, one intra-op thread, a save every 2 iterations) in its
own folder and ends it with the equivalent of ``kill -9``:

* random kill: SIGKILL at a moment drawn uniformly over the training part of an uninterrupted run (from its
  first loss line to its exit), measured once beforehand;
* kill during a save: the test-only fault hook of util/fileio.py (``IMG2IMG_TEST_FAULT``) ends the process
  with os._exit, either right after the K-th rename of a checkpoint file or halfway through writing the K-th
  one, K drawn uniformly over every checkpoint file the run writes.

After the kill the run folder is inspected (corrupt files: a .pth that torch cannot load; split sets: a
training state whose recorded network files differ from those beside it), the run is resumed with
``--continue_train`` (or started again when nothing was saved yet) until it ends, and then checked: a failed
resume is a non-zero exit or final weights that are not bitwise those of the uninterrupted run; leftover
files are temporary files, a save journal or a lock file still there. Counts are printed as one table.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from datasets.make_toy_dataset import make_toy_datasets
from options.base_options import OptionParser
from util.cli import run_cli
from util.fileio import FAULT_ENV, JOURNAL_NAME, TMP_SUFFIX, atomic_write_text
from util.runlock import LOCK_NAME

ROOT = Path(__file__).resolve().parents[1]
RUN_ARGS = ["--model", "cycle_gan", "--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--load_size", "36",
            "--crop_size", "32", "--num_threads", "0", "--display_id", "0", "--no_html", "--print_freq", "1",
            "--seed", "3", "--pool_size", "3", "--n_epochs", "1", "--n_epochs_decay", "1", "--save_latest_freq", "2"]
N_IMAGES = 4
FILES_PER_SAVE = 5  # four networks and the training state
MAX_RESUMES = 5


@dataclass
class Trial:
    """What one kill did to the run."""

    kind: str
    fault: str
    killed: bool = False
    corrupt_files: List[str] = field(default_factory=list)
    split_sets: List[str] = field(default_factory=list)
    resumes: int = 0
    failed_resume: str = ""
    leftover_files: List[str] = field(default_factory=list)


def train_command(dataroot: Path, ckpt: Path, name: str, *extra: str) -> List[str]:
    return [sys.executable, str(ROOT / "train.py"), "--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt),
            "--name", name, *RUN_ARGS, *extra]


def script_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    return {**env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **extra}


def latest_weights(run: Path) -> Dict[str, Dict[str, torch.Tensor]]:
    return {p.name: torch.load(p, weights_only=True) for p in sorted(run.glob("latest_net_*.pth"))}


def same_weights(a: Dict[str, Dict[str, torch.Tensor]], b: Dict[str, Dict[str, torch.Tensor]]) -> bool:
    return bool(a) and a.keys() == b.keys() and all(
        a[n].keys() == b[n].keys() and all(torch.equal(a[n][k], b[n][k]) for k in a[n]) for n in a)


def inspect(run: Path, trial: Trial) -> None:
    """Count corrupt checkpoint files and split sets as a crash left them (before any repair)."""
    for path in sorted(run.glob("*.pth")):
        try:
            torch.load(path, weights_only=False, map_location="cpu")
        except Exception:
            trial.corrupt_files.append(path.name)
    for state_path in sorted(run.glob("*_train_state.pth")):
        if state_path.name in trial.corrupt_files:
            continue
        state = torch.load(state_path, weights_only=False, map_location="cpu")
        for name, (size, digest) in state.get("files", {}).items():
            path = run / name
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                # a journal still there means the set is committed and start-up completes it: not split
                if not (run / JOURNAL_NAME).is_file():
                    trial.split_sets.append(state_path.name)
                break


def run_trial(index: int, trial: Trial, work: Path, dataroot: Path, reference: Dict[str, Dict[str, torch.Tensor]],
              kill_after: Optional[float]) -> Trial:
    name = f"trial{index}"
    run = work / name
    command = train_command(dataroot, work, name)
    env = script_env(**({FAULT_ENV: trial.fault} if trial.fault else {}))
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if kill_after is not None:
        assert proc.stdout is not None
        for line in proc.stdout:  # training has started: the first loss line
            if line.startswith("(epoch:"):
                break
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    proc.communicate()
    trial.killed = proc.returncode in (-signal.SIGKILL, 137)
    if run.is_dir():
        inspect(run, trial)
    while trial.resumes < MAX_RESUMES:
        trial.resumes += 1
        resume = ["--continue_train"] if (run / "latest_train_state.pth").is_file() else []
        done = subprocess.run(train_command(dataroot, work, name, *resume), cwd=ROOT, env=script_env(),
                              capture_output=True, text=True)
        if done.returncode == 0:
            break
        trial.failed_resume = f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
    else:
        return trial
    if not same_weights(latest_weights(run), reference):
        trial.failed_resume = "final weights differ from the uninterrupted run"
    else:
        trial.failed_resume = ""
    trial.leftover_files = sorted(p.name for p in run.iterdir()
                                  if p.name.endswith(TMP_SUFFIX) or p.name in (JOURNAL_NAME, LOCK_NAME))
    return trial


def reference_run(work: Path, dataroot: Path) -> tuple:
    """Train uninterrupted; return its final weights, the seconds from its first loss line to its exit, and the
    number of checkpoint files it writes."""
    proc = subprocess.Popen(train_command(dataroot, work, "reference"), cwd=ROOT, env=script_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    started = None
    output = []
    for line in proc.stdout:
        output.append(line)
        if started is None and line.startswith("(epoch:"):
            started = time.perf_counter()
    if proc.wait() != 0 or started is None:
        raise SystemExit(f"the uninterrupted run failed:\n{''.join(output)[-3000:]}")
    duration = time.perf_counter() - started
    # a save every --save_latest_freq iterations logs "saving the ...", the one at each epoch's end follows the
    # learning-rate line
    saves = sum(1 for line in output if line.startswith("saving the") or line.startswith("learning rate"))
    return latest_weights(work / "reference"), duration, saves * FILES_PER_SAVE


def summary(trials: List[Trial]) -> Dict[str, int]:
    return {"trials": len(trials), "killed": sum(t.killed for t in trials),
            "corrupt files": sum(len(t.corrupt_files) for t in trials),
            "split sets": sum(len(t.split_sets) for t in trials),
            "failed resumes": sum(bool(t.failed_resume) for t in trials),
            "leftover files": sum(len(t.leftover_files) for t in trials)}


def build_parser() -> argparse.ArgumentParser:
    parser = OptionParser(prog="fault_benchmark.py", description=__doc__.split("\n\n")[0],
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--random_kills", type=int, default=50, help="trials killed at a random moment")
    parser.add_argument("--save_kills", type=int, default=50, help="trials killed during a checkpoint save")
    parser.add_argument("--jobs", type=int, default=2, help="trials run at the same time")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write every trial here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (its path is printed)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("random_kills", "save_kills"):
        if getattr(args, flag) < 0:
            parser.error(f"argument --{flag}: must be 0 or more, got {getattr(args, flag)}")
    if args.jobs < 1:
        parser.error(f"argument --jobs: must be at least 1, got {args.jobs}")
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="fault_benchmark_"))
    try:
        make_toy_datasets(work / "data", size=36, n_train=N_IMAGES, n_test=1)
        dataroot = work / "data" / "shapes"
        reference, duration, files = reference_run(work, dataroot)
        print(f"uninterrupted run: {duration:.1f} s of training, {files} checkpoint files written", flush=True)
        randoms = [(Trial("random", ""), rng.uniform(0, duration)) for _ in range(args.random_kills)]
        saves = [(Trial("save", f"{rng.choice(['rename', 'write'])}:{rng.randint(1, files)}"), None)
                 for _ in range(args.save_kills)]
        plans = [plan for pair in zip(randoms, saves) for plan in pair]  # interleaved: early lines show both kinds
        plans += randoms[len(saves):] + saves[len(randoms):]
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_trial, i, trial, work, dataroot, reference, kill_after)
                       for i, (trial, kill_after) in enumerate(plans)]
            for done, future in enumerate(as_completed(futures), 1):
                trial = future.result()
                print(f"[{done}/{len(plans)}] {trial.kind} {trial.fault or 'kill -9'}: killed {trial.killed}, "
                      f"corrupt {trial.corrupt_files}, split {trial.split_sets}, resumes {trial.resumes}, "
                      f"failed resume {trial.failed_resume or 'no'}, leftovers {trial.leftover_files}", flush=True)
            trials = [f.result() for f in futures]
        rows = {kind: summary([t for t in trials if t.kind == kind]) for kind in ("random", "save")}
        columns = list(rows["random"])
        print(f"{'kills':<22}" + "".join(f"{c:>16}" for c in columns))
        for kind, label in (("random", "random kill -9"), ("save", "kill during a save")):
            print(f"{label:<22}" + "".join(f"{rows[kind][c]:>16}" for c in columns))
        for i, t in enumerate(trials):
            if t.corrupt_files or t.split_sets or t.failed_resume or t.leftover_files:
                print(f"trial {i} ({t.kind} {t.fault}): {asdict(t)}")
        if args.json is not None:
            atomic_write_text(args.json, json.dumps({"summary": rows, "trials": [asdict(t) for t in trials]},
                                                    indent=2) + "\n")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_cli(main)
