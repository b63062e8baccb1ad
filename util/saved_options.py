"""Reading a run's saved options (``train_opt.txt``, written by options/base_options.py) back into flag values.

The one reader of a run's architecture: test.py fills in the flags the user left out from it, and the inference
API and scripts/export.py build the generator from it. It lives below options/ and models/ so that both can use
it without models/ importing options/.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Dict, Iterable, Union

from util.errors import UserError

PathLike = Union[str, os.PathLike]


def parse_saved_options(path: PathLike) -> Dict[str, str]:
    """Read a ``*_opt.txt`` written by ``print_options`` back into {name: value string}."""
    values: Dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if ": " not in line or line.startswith("-----"):
                continue
            key, rest = line.split(": ", 1)
            values[key.strip()] = rest.split("\t[default:", 1)[0].strip()
    return values


def convert_saved_value(action: argparse.Action, text: str) -> Any:
    """Convert a saved option string with the type of the argparse action that defines it."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return text == "True"
    if text == "inf":
        return float("inf")
    if text == "None":
        return None
    return action.type(text) if action.type is not None else text


def read_saved_flags(path: PathLike, parser: argparse.ArgumentParser, flags: Iterable[str]) -> Dict[str, Any]:
    """The values of ``flags`` saved in ``path``, converted with ``parser``'s types ({} when there is no file).

    A flag the file or the parser lacks is left out; a value that does not convert is a UserError naming the
    file and the flag.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        saved = parse_saved_options(path)
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}") from err
    actions = {a.dest: a for a in parser._actions}
    values: Dict[str, Any] = {}
    for flag in flags:
        if flag in saved and flag in actions:
            try:
                values[flag] = convert_saved_value(actions[flag], saved[flag])
            except (TypeError, ValueError):
                raise UserError(f"{path}: cannot read {flag} = {saved[flag]!r}") from None
    return values
