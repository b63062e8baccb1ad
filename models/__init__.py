"""Model discovery by file name: ``--model foo`` loads ``models/foo_model.py`` and its class ``FooModel``.

To add a model, copy ``template_model.py``; its flags come in through ``modify_commandline_options``.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable, List, Type

from util import registry

from .base_model import BaseModel

logger = logging.getLogger(__name__)


def available_models() -> List[str]:
    """Names of the models found in this package (``*_model.py`` files)."""
    return registry.available(Path(__file__).resolve().parent, "model")


def find_model_using_name(model_name: str) -> Type[BaseModel]:
    """Import ``models/{model_name}_model.py`` and return the BaseModel subclass named like it."""
    return registry.find_class("models", Path(__file__).resolve().parent, "model", model_name, BaseModel, "--model",
                               "model")


def get_option_setter(model_name: str) -> Callable[[argparse.ArgumentParser, bool], argparse.ArgumentParser]:
    """The ``modify_commandline_options`` hook of the model."""
    return find_model_using_name(model_name).modify_commandline_options


def create_model(opt: argparse.Namespace) -> BaseModel:
    """Build the model named by ``opt.model``."""
    instance = find_model_using_name(opt.model)(opt)
    logger.info("model [%s] was created", type(instance).__name__)
    return instance
