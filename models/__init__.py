"""Model discovery by file name: ``--model foo`` loads ``models/foo_model.py`` and its class ``FooModel``.

To add a model, copy ``template_model.py``; its flags come in through ``modify_commandline_options``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path
from typing import Callable, List, Type

from util.errors import UserError

from .base_model import BaseModel

logger = logging.getLogger(__name__)


def available_models() -> List[str]:
    """Names of the models found in this package (``*_model.py`` files)."""
    here = Path(__file__).resolve().parent
    return sorted(p.name[: -len("_model.py")] for p in here.glob("*_model.py") if p.name != "base_model.py")


def find_model_using_name(model_name: str) -> Type[BaseModel]:
    """Import ``models/{model_name}_model.py`` and return the BaseModel subclass named like it."""
    if model_name not in available_models():
        raise UserError(f"argument --model: unknown model {model_name!r}; "
                        f"choose from {', '.join(available_models())}")
    module = importlib.import_module(f"models.{model_name}_model")
    target = model_name.replace("_", "").lower() + "model"
    for name, cls in vars(module).items():
        if name.lower() == target and isinstance(cls, type) and issubclass(cls, BaseModel):
            return cls
    raise UserError(f"argument --model: models/{model_name}_model.py has no BaseModel subclass named "
                    f"like {target} (case-insensitive)")


def get_option_setter(model_name: str) -> Callable[[argparse.ArgumentParser, bool], argparse.ArgumentParser]:
    """The ``modify_commandline_options`` hook of the model."""
    return find_model_using_name(model_name).modify_commandline_options


def create_model(opt: argparse.Namespace) -> BaseModel:
    """Build the model named by ``opt.model``."""
    instance = find_model_using_name(opt.model)(opt)
    logger.info("model [%s] was created", type(instance).__name__)
    return instance
