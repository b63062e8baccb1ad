"""Dataset discovery by file name and the loader that train.py and test.py iterate over.

``--dataset_mode foo`` loads ``data/foo_dataset.py`` and its BaseDataset subclass ``FooDataset`` (matched
without underscores, in any case). To add a mode, copy ``template_dataset.py``.

PyTorch and the dataset classes are imported only when needed: light scripts import ``data.image_folder``
(image listing and reading) and should not pay for loading torch and torchvision.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Type, Union

from util import registry

if TYPE_CHECKING:
    import torch.utils.data

    from data.base_dataset import BaseDataset

logger = logging.getLogger(__name__)

SamplerArg = Union["torch.utils.data.Sampler", Callable[["torch.utils.data.Dataset"], "torch.utils.data.Sampler"]]


def available_dataset_modes() -> List[str]:
    """Names of the dataset modes found in this package (``*_dataset.py`` files)."""
    return registry.available(Path(__file__).resolve().parent, "dataset")


def find_dataset_using_name(dataset_name: str) -> Type[BaseDataset]:
    """Import ``data/{dataset_name}_dataset.py`` and return the BaseDataset subclass named like it."""
    from data.base_dataset import BaseDataset

    return registry.find_class("data", Path(__file__).resolve().parent, "dataset", dataset_name, BaseDataset,
                               "--dataset_mode", "dataset mode")


def get_option_setter(dataset_name: str) -> Callable[[argparse.ArgumentParser, bool], argparse.ArgumentParser]:
    """The ``modify_commandline_options`` hook of the dataset mode."""
    return find_dataset_using_name(dataset_name).modify_commandline_options


def batch_length(batch: Dict[str, Any]) -> int:
    """Samples in a collated batch: the length of its first tensor (every dataset mode has one)."""
    import torch

    return len(next(v for v in batch.values() if isinstance(v, torch.Tensor)))


def create_dataset(opt: argparse.Namespace, sampler: Optional[SamplerArg] = None) -> "CustomDatasetDataLoader":
    """The dataset of ``opt.dataset_mode`` wrapped in a DataLoader; iterate over it for batches.

    ``sampler`` chooses the sample order instead of the loader's shuffle: a Sampler, or a function that gets
    the dataset and returns one (a DistributedSampler needs the dataset), e.g.
    ``create_dataset(opt, lambda ds: DistributedSampler(ds, shuffle=not opt.serial_batches))``.
    """
    return CustomDatasetDataLoader(opt, sampler).load_data()


class CustomDatasetDataLoader:
    """Batches of a dataset mode, at most ``max_dataset_size`` samples per epoch.

    Without a sampler the order is shuffled (unless ``--serial_batches``) from PyTorch's global generator, and
    the workers' seeds come from it too, so restoring that generator's state replays an epoch exactly.
    """

    def __init__(self, opt: argparse.Namespace, sampler: Optional[SamplerArg] = None) -> None:
        import torch.utils.data

        from data.base_dataset import collate

        self.opt = opt
        self.dataset = find_dataset_using_name(opt.dataset_mode)(opt)
        logger.info("dataset [%s] was created", type(self.dataset).__name__)
        if sampler is not None and not isinstance(sampler, torch.utils.data.Sampler) and callable(sampler):
            sampler = sampler(self.dataset)
        self.sampler = sampler
        device = getattr(opt, "device", None)
        workers = int(opt.num_threads)
        self.dataloader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=opt.batch_size,
            shuffle=sampler is None and not opt.serial_batches,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate,
            pin_memory=device is not None and device.type == "cuda",  # page-locked batches copy to the GPU async
            # workers kept across epochs save their start-up each epoch; a seeded run restarts them so that each
            # epoch's worker seeds come from the saved RNG state (what makes --continue_train bitwise)
            persistent_workers=workers > 0 and getattr(opt, "seed", None) is None and getattr(opt, "isTrain", False),
        )

    def load_data(self) -> "CustomDatasetDataLoader":
        return self

    def set_epoch(self, epoch: int) -> None:
        """Tell the sampler which epoch starts (a DistributedSampler reshuffles by it); no-op otherwise."""
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        """Samples per epoch for this process: the sampler's share if there is one, else the dataset's."""
        total = len(self.sampler) if self.sampler is not None and hasattr(self.sampler, "__len__") \
            else len(self.dataset)
        return int(min(total, self.opt.max_dataset_size))

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        batches = iter(self.dataloader)
        try:
            for i, data in enumerate(batches):
                if i * self.opt.batch_size >= self.opt.max_dataset_size:
                    break
                yield data
        except BaseException:
            # A worker's error keeps the workers alive in a reference cycle (through the traceback); left to the
            # garbage collector, their queues close first and the shutdown then waits 5 s. Stop them now.
            shutdown = getattr(batches, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
            raise
