"""Test helper, run by tests/test_distributed.py: a few training steps of a real model in float64, in one process
or in each rank of a torchrun launch, then rank 0 saves the weights.

    python tests/ddp_steps.py OUT.pth [train.py flags]
    torchrun --nproc_per_node 2 tests/ddp_steps.py OUT.pth [train.py flags]

float64 so that two runs whose sums are taken in another order (one batch of 2 against two all-reduced
batches of 1) agree to far below any real difference, even after Adam's first, sign-like steps.
"""
from __future__ import annotations

import sys

import torch

from data import create_dataset
from models import create_model
from models.checkpoint import state_dict_for_saving
from options.train_options import TrainOptions
from util import distributed
from util.seeding import seed_everything


def main() -> None:
    out, flags = sys.argv[1], sys.argv[2:]
    torch.set_default_dtype(torch.float64)
    opt = TrainOptions().parse(flags, save=False)
    distributed.setup(opt.device)
    seed_everything(opt.seed + distributed.rank())
    dataset = create_dataset(opt, distributed.training_sampler(opt))
    model = create_model(opt)
    model.setup(opt)
    dataset.set_epoch(1)
    for data in dataset:
        model.set_input({k: v.double() if torch.is_tensor(v) else v for k, v in data.items()})
        model.train_step()
    if distributed.rank() == 0:
        torch.save({name: state_dict_for_saving(net) for name, net in model.networks().items()}, out)
    distributed.cleanup(completed=True)


if __name__ == "__main__":
    main()
