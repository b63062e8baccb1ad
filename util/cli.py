"""What every command-line entry point shares: logging set-up and one-line errors for bad input."""
from __future__ import annotations

import logging
import sys
from typing import Callable

from util.errors import ImageReadError, UserError


def setup_logging(verbose: bool = False) -> None:
    """Log to stdout as plain lines: the reference printed its messages, users grep them."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        stream=sys.stdout, force=True)
    for noisy in ("PIL", "matplotlib", "urllib3", "visdom", "websocket"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def user_error_line(err: UserError) -> str:
    """The one line to show for ``err``; a DataLoader worker wraps the message in a traceback, keep its last line."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    last = lines[-1]
    if isinstance(err, ImageReadError) and ": cannot read image" in last:
        last = last[last.index("cannot read image"):]
    elif len(lines) > 1 and ": " in last and last.split(": ", 1)[0].endswith("Error"):
        last = last.split(": ", 1)[1]
    return last


def run_cli(main: Callable[[], None]) -> None:
    """Run ``main``; bad input exits with status 2 and one line naming the flag or file, no traceback."""
    try:
        main()
    except UserError as err:
        print(f"error: {user_error_line(err)}", file=sys.stderr)
        sys.exit(2)
