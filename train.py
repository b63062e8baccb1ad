"""Train an image-to-image translation model.

    python train.py --dataroot ./datasets/horse2zebra --name h2z --model cycle_gan
    python train.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA

Checkpoints, options, the loss log and the training page go to ``--checkpoints_dir/--name``. Every save also
writes the full training state, and Ctrl-C or SIGTERM saves before stopping, so ``--continue_train`` resumes
exactly where the run stopped.

A run holds a lock on its folder (a second run with the same --name is refused), finishes or cleans up a save
that a crash interrupted, and changes nothing in the folder until its options, data and checkpoints have been
checked. Steps with NaN/Inf losses are skipped; --max_bad_steps of them in a row stop the run.

Several processes (GPUs or machines) train one model with DistributedDataParallel when started by torchrun:

    torchrun --nproc_per_node 2 train.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix

``--batch_size`` is per process; the iteration counters and loss_log.txt count samples of the global batch.
"""
from __future__ import annotations

from util.cli import exit_quietly_on_interrupt, run_cli, setup_logging

if __name__ == "__main__":
    exit_quietly_on_interrupt()  # before the slow imports below: Ctrl-C during start-up gives one line

import argparse  # noqa: E402
import contextlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any, Dict, Optional  # noqa: E402

from data import batch_length, create_dataset  # noqa: E402
from data.base_dataset import check_input_size  # noqa: E402
from evaluation.validation import create_validation  # noqa: E402
from models import create_model  # noqa: E402
from models.base_model import BaseModel  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402
from util import distributed  # noqa: E402
from util.errors import UserError  # noqa: E402
from util.fileio import is_main_process, recover_interrupted_saves  # noqa: E402
from util.runlock import RunLock  # noqa: E402
from util.seeding import get_rng_state, seed_everything, set_rng_state  # noqa: E402
from util.visualizer import Visualizer  # noqa: E402

logger = logging.getLogger("train")


class StopRequest:
    """Turns SIGINT/SIGTERM into a flag checked between iterations, so a stop never interrupts a step or a save.

    The handler only sets the flag: it may run in the middle of a write to stdout, where logging from it would
    be a re-entrant write (a "Logging error" traceback); the training loop reports the signal.
    """

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        for s, handler in self.previous.items():  # a second signal stops at once
            signal.signal(s, handler)

    def restore(self) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def crossed(before: int, after: int, freq: int) -> bool:
    """True when a multiple of ``freq`` lies in (before, after]: the cadence holds for any batch size."""
    return after // freq > before // freq


def resume(model: BaseModel, opt: argparse.Namespace, explicit_epoch_count: bool) -> Dict[str, Any]:
    """Counters to start from: the saved training state if there is one, else the reference's weights-only resume."""
    counters = {"epoch": opt.epoch_count, "epoch_iter": 0, "total_iters": 0, "epoch_rng": None}
    if not opt.continue_train:
        return counters
    saved = model.load_training_state(model.load_prefix(opt))
    if saved is None:
        logger.warning("no training state beside the loaded weights: resuming weights only from epoch %d "
                       "(optimizer moments and counters start fresh; set --epoch_count)", opt.epoch_count)
        return counters
    counters.update(total_iters=saved["total_iters"], rng=get_rng_state())
    if saved["epoch_done"]:
        counters.update(epoch=saved["epoch"] + 1)
    else:
        counters.update(epoch=saved["epoch"], epoch_iter=saved["epoch_iter"], epoch_rng=saved["epoch_rng"],
                        resharded=saved.get("resharded", False))
    if explicit_epoch_count:
        counters.update(epoch=opt.epoch_count, epoch_iter=0, epoch_rng=None)
    last = opt.n_epochs + opt.n_epochs_decay
    if counters["epoch"] > last:  # before anything is written: the run folder stays as the finished run left it
        raise UserError(f"--continue_train: the run has done {counters['epoch'] - 1} epoch(s), and --n_epochs "
                        f"{opt.n_epochs} + --n_epochs_decay {opt.n_epochs_decay} end at epoch {last}: nothing is "
                        f"left to train; raise them to train on")
    logger.info("continuing at epoch %d, %d samples into it (total iterations %d)",
                counters["epoch"], counters["epoch_iter"], counters["total_iters"])
    return counters


class TrainingDivergedError(UserError):
    """Too many steps in a row had NaN/Inf losses or gradients, or the run ended in such steps."""


class DivergenceGuard:
    """Runs the training steps and counts those in a row with NaN/Inf (the model skipped them).

    ``--max_bad_steps`` of them stop the run. While the last step was bad nothing is saved: the weights give
    NaN/Inf (finite weights can, when a step has made them huge), and saving them would replace the last good
    checkpoint. A run that ends in bad steps therefore fails rather than exit 0 without its last checkpoints.
    """

    def __init__(self, model: BaseModel, limit: int) -> None:
        self.model, self.limit = model, limit
        self.bad_steps = 0
        self.last = ""  # where the last bad step was, and what was wrong

    def step(self, epoch: int, total_iters: int) -> None:
        """One training step; raises TrainingDivergedError at the limit."""
        problem = self.model.train_step()
        if not distributed.any_rank(problem is not None):  # every rank counts alike: a save is collective
            self.bad_steps = 0
            return
        self.bad_steps += 1
        self.last = f"epoch {epoch}, iteration {total_iters} ({problem or 'on another process'})"
        if problem is not None:
            logger.warning("epoch %d, iteration %d: %s", epoch, total_iters, problem)
        if self.bad_steps >= self.limit:
            raise self.error(f"training diverged: {self.bad_steps} steps in a row with NaN/Inf (--max_bad_steps "
                             f"{self.limit})")

    def save(self, prefix: str, counters: Dict[str, Any], announce: str = "") -> None:
        """Save the set ``prefix`` in the background (logging ``announce`` first), unless the last step was bad."""
        if self.bad_steps:
            logger.warning("checkpoint '%s' not saved at iteration %d: the last %d step(s) had NaN/Inf; %s", prefix,
                           counters["total_iters"], self.bad_steps, self.model.describe_last_save())
            return
        if announce:
            logger.info("%s", announce)
        self.model.save_networks(prefix, counters, background=True)

    def check_ended_well(self) -> None:
        """At the end of the run: TrainingDivergedError if it ended in bad steps (their saves were skipped)."""
        if self.bad_steps:
            raise self.error(f"training ended in {self.bad_steps} step(s) in a row with NaN/Inf (--max_bad_steps "
                             f"{self.limit} not reached)", "the checkpoints due after them were not saved: ")

    def error(self, what: str, saves: str = "") -> TrainingDivergedError:
        self.model.wait_for_saves()  # so that the message names the save in flight, if it was the last good one
        return TrainingDivergedError(f"{what}, the last at {self.last}; {saves}{self.model.describe_last_save()}; "
                                     f"lower --lr or --init_gain")


def main() -> None:
    options = TrainOptions()
    opt = options.parse(save=False)  # values checked; train_opt.txt is written once everything else is
    setup_logging(opt.verbose)
    if distributed.launch_for_gpu_ids(opt.gpu_ids, sys.argv[1:]):
        return
    distributed.setup(opt.device)
    completed = False
    try:
        run_dir = os.path.join(opt.checkpoints_dir, opt.name)
        with RunLock(run_dir) if is_main_process() else contextlib.nullcontext():  # rank 0 holds the folder
            if is_main_process():
                for repair in recover_interrupted_saves(run_dir):
                    logger.warning("%s", repair)
            train(options, opt)
        completed = True
    except RuntimeError as err:
        if not distributed.lost_peer(err):
            raise
        # a peer process died (killed, out of memory): this rank cannot go on, and must not save a checkpoint
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise UserError(f"rank {distributed.rank()} lost contact with the other training processes ({reason}); "
                        f"the last complete checkpoint is kept: restart with --continue_train") from err
    finally:
        distributed.cleanup(completed)


def check_first_sample(dataset: Any, opt: argparse.Namespace) -> None:
    """Read the first sample before anything is written: an unreadable file, or a size the generator cannot take
    (all the images of a dataset often share it), stops the run with the folder untouched. The random state is
    put back, so the run trains exactly as without this look."""
    rng = get_rng_state()
    try:
        sample = dataset.dataset[0]
    finally:
        set_rng_state(rng)
    check_input_size(sample, opt, opt.size_multiple)


def train(options: TrainOptions, opt: argparse.Namespace) -> None:
    """Check the data and checkpoints, then train (every rank of a DDP run on its own shard of each epoch);
    raises SystemExit(128 + signal) when stopped by a signal."""
    if distributed.rank() != 0:
        logging.getLogger().setLevel(logging.WARNING)  # only rank 0 reports progress
    if opt.seed is not None:
        seed_everything(opt.seed + distributed.rank())  # rank 0 draws the initial weights DDP broadcasts
    world = distributed.world_size()
    dataset = create_dataset(opt, distributed.training_sampler(opt))
    dataset_size = len(dataset) * world  # global samples per epoch (a DDP epoch is padded to a whole round)
    logger.info("The number of training images = %d", dataset_size)
    distributed.check_batch_size(opt)

    check_first_sample(dataset, opt)

    model = create_model(opt)
    model.setup(opt)
    start = resume(model, opt, "epoch_count" in options.explicit_flags())
    validation = create_validation(opt, model)  # before the first write: a flag it refuses stops the run
    options.print_options(opt, keep_previous=opt.continue_train)  # the first write to the run folder
    visualizer = Visualizer(opt)
    total_iters = start["total_iters"]
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    stop = StopRequest()
    guard = DivergenceGuard(model, opt.max_bad_steps)
    stopping = False
    try:
        for epoch in range(start["epoch"], last_epoch + 1):
            epoch_start_time = time.time()
            visualizer.reset()
            dataset.set_epoch(epoch)
            epoch_iter, skip = 0, 0
            if epoch == start["epoch"] and start["epoch_iter"]:
                if start["epoch_rng"] is not None:
                    # mid-epoch resume: replay the epoch's data order, skip what was done, then restore the RNG
                    set_rng_state(start["epoch_rng"])
                    skip = start["epoch_iter"]
                elif start.get("resharded") and hasattr(dataset.sampler, "set_start"):
                    # saved by another number of processes: deal out the rest of the epoch among these
                    dataset.sampler.set_start(start["epoch_iter"])
                    epoch_iter = start["epoch_iter"]
                else:
                    skip = start["epoch_iter"]
            epoch_rng = get_rng_state()
            iterator = iter(dataset)
            for _ in range(-(-skip // (opt.batch_size * world))):
                epoch_iter += batch_length(next(iterator)) * world
            if skip:
                set_rng_state(start["rng"])
            visualizer.start_epoch(epoch, dataset_size - epoch_iter)
            loss_sums, loss_count = 0.0, 0
            iter_data_time = time.time()
            for data in iterator:
                iter_start_time = time.time()
                t_data = iter_start_time - iter_data_time
                batch_size = batch_length(data) * world  # the global batch: every rank steps at once
                before = total_iters
                total_iters += batch_size
                epoch_iter += batch_size
                check_input_size(data, opt, opt.size_multiple)
                model.set_input(data)
                visualizer.add_graph(model)  # the first batch only (--use_tensorboard)
                guard.step(epoch, total_iters)

                if crossed(before, total_iters, opt.display_freq) and not guard.bad_steps:  # no NaN images
                    save_result = crossed(before, total_iters, opt.update_html_freq)
                    model.compute_visuals()
                    visualizer.display_current_results(model.get_current_visuals(), epoch, save_result, total_iters)

                if crossed(before, total_iters, opt.print_freq):
                    losses = distributed.mean_over_ranks(model.get_current_losses())
                    loss_sums += sum(losses.values())
                    loss_count += 1
                    t_comp = (time.time() - iter_start_time) / batch_size
                    visualizer.print_current_losses(epoch, epoch_iter, losses, t_comp, t_data / batch_size)
                    visualizer.plot_current_losses(epoch, epoch_iter / dataset_size, losses, total_iters)
                    visualizer.log_scalars({"lr": model.get_learning_rate(), "time_per_iter": t_comp}, total_iters)
                elif before == start["total_iters"]:  # the curves' first point at once, not after --print_freq
                    visualizer.plot_current_losses(epoch, epoch_iter / dataset_size, model.get_current_losses(),
                                                   total_iters)

                counters = {"epoch": epoch, "epoch_iter": epoch_iter, "total_iters": total_iters,
                            "epoch_done": False, "epoch_rng": epoch_rng}
                if crossed(before, total_iters, opt.save_latest_freq):
                    guard.save(f"iter_{total_iters}" if opt.save_by_iter else "latest", counters,
                               f"saving the latest model (epoch {epoch}, total_iters {total_iters})")
                visualizer.advance(batch_size)
                stopping = distributed.any_rank(stop.signum is not None)  # all ranks stop at the same step
                if stopping:
                    if stop.signum is not None:
                        logger.warning("received signal %d", stop.signum)
                    guard.save("latest", counters,
                               f"saving the latest model (epoch {epoch}, total_iters {total_iters}) before stopping")
                    break
                iter_data_time = time.time()
            if stopping and epoch_iter < dataset_size:
                break

            if loss_count:
                model.metric = loss_sums / loss_count
            model.update_learning_rate()  # after this epoch's optimizer steps
            counters = {"epoch": epoch, "epoch_iter": epoch_iter, "total_iters": total_iters,
                        "epoch_done": True, "epoch_rng": None}
            guard.save("latest", counters)
            if epoch % opt.save_epoch_freq == 0:
                guard.save(str(epoch), counters,
                           f"saving the model at the end of epoch {epoch}, iters {total_iters}")
            if validation is not None and epoch % opt.val_freq == 0 and not guard.bad_steps:  # may save best_*
                validation.run(epoch, total_iters, counters, visualizer)
            visualizer.end_epoch(epoch, time.time() - epoch_start_time, model.get_learning_rate())
            if stopping:
                break
    finally:
        stop.restore()
        model.wait_for_saves()  # the last checkpoint set is on disk before the run ends
        visualizer.close()
    if not stopping:  # a stop keeps its exit status; its skipped save was reported
        guard.check_ended_well()
    if stopping:
        if stop.signum is None:
            raise SystemExit(128 + signal.SIGTERM)  # another rank was asked to stop
        logger.info("stopped by signal %d; resume with the same command plus --continue_train", stop.signum)
        raise SystemExit(128 + stop.signum)


if __name__ == "__main__":
    run_cli(main)
