"""Watching a training run. The Visualizer (util/visualizer.py) hands every event of the run to sinks, one file
each, found by file name as models and dataset modes are: ``monitoring/{name}_sink.py`` holds ``{Name}Sink``, a
subclass of ``monitoring.base_sink.Sink``.

    loss_log      loss_log.txt (always)              progress      the terminal: bar or log lines (always)
    page          the training page (not --no_html)   visdom        Visdom windows (--display_id > 0)
    tensorboard   --use_tensorboard                   wandb         --use_wandb

To add a logger: write ``monitoring/foo_sink.py`` with ``class FooSink(Sink)`` (its ``wanted`` reads its flag,
``check`` reports a missing package, ``modify_commandline_options`` declares its flag, and it overrides the
events it shows), and add its test. Nothing else changes.

The rest of the package is what the sinks use: the Visdom connection and server launcher, the loss history, the
SVG loss chart and the progress bar.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Type

from monitoring.base_sink import Sink, SinkContext
from util import registry


def available_sinks() -> List[str]:
    """Names of the sinks in this package (``*_sink.py`` files), in the order they are built and called."""
    return registry.available(Path(__file__).resolve().parent, "sink")


def sink_class(name: str) -> Type[Sink]:
    """The Sink subclass of ``monitoring/{name}_sink.py``."""
    return registry.find_class("monitoring", Path(__file__).resolve().parent, "sink", name, Sink, "monitoring",
                               "sink")


def build_sinks(context: SinkContext) -> List[Sink]:
    """The sinks the options ask for. Every one is checked before any is built, so a missing package stops the
    run before anything is written."""
    classes = [cls for cls in map(sink_class, available_sinks()) if cls.wanted(context.opt)]
    for cls in classes:
        cls.check(context.opt)
    return [cls(context) for cls in classes]


__all__ = ["Sink", "SinkContext", "available_sinks", "build_sinks", "sink_class"]
