"""What every command-line entry point shares: logging set-up and one-line errors for bad input."""
from __future__ import annotations

import errno
import logging
import signal
import sys
from typing import Any, Callable

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


def exit_quietly_on_interrupt() -> None:
    """Make Ctrl-C (SIGINT) end the process with one line and status 130 instead of a KeyboardInterrupt traceback.

    Entry points call it before their slow imports, so it covers the whole start-up; the training loop installs
    its own handler (save, then stop) while it runs.
    """
    signal.signal(signal.SIGINT, _interrupted)


def _interrupted(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C during the clean-up stops at once
    print("error: interrupted (Ctrl-C)", file=sys.stderr)
    raise SystemExit(128 + signum)


def run_cli(main: Callable[[], None]) -> None:
    """Run ``main``; bad input exits with status 2 and one line naming the flag or file, no traceback.

    A full disk or a read-only file system met while writing is also the user's to fix: one line, naming the file.
    """
    try:
        main()
    except UserError as err:
        print(f"error: {user_error_line(err)}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        print(f"error: cannot write {err.filename or 'a file'}: {err.strerror}", file=sys.stderr)
        sys.exit(2)
