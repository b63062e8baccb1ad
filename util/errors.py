"""Errors caused by the user's input (flags, files, checkpoints).

The command-line entry points catch ``UserError`` and print its message as one line, without a traceback,
then exit with status 2. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """Bad input the user can fix: the message names the flag, file or value at fault."""


class ImageReadError(UserError):
    """A file in the dataset is not a readable image. The message starts with ``cannot read image``."""
