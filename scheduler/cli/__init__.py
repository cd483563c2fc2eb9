"""``python -m scheduler`` / ``chairtime``: the command line, a thin adapter over
``scheduler.usecases``; nothing imports it. ``parser`` holds the arguments, ``commands`` one
function per command, ``render`` what they print; :func:`main` runs one.

Exit codes: 0 done; 2 invalid input (every problem listed, no traceback); 3 ``check`` found
violations; 1 internal error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler

from scheduler.cli import render
from scheduler.cli.commands import COMMANDS, EXIT_INTERNAL, EXIT_INVALID
from scheduler.cli.parser import build_parser
from scheduler.errors import InvalidInput, Issue
from scheduler.settings import Settings

__all__ = ["main"]

log = logging.getLogger("scheduler")


def _settings() -> Settings:
    """The ``CHAIRTIME_*`` settings; a bad value is invalid input naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidInput([Issue(f"CHAIRTIME_{str(e['loc'][0]).upper()}", e["msg"])
                            for e in exc.errors()]) from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    err = Console(stderr=True, soft_wrap=True,
                  width=None if sys.stderr.isatty() else 200)  # logs to a file stay one line
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
        force=True,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # not a line per plugin on start
    console = Console(soft_wrap=True)
    try:
        settings = _settings()
        if not (args.verbose or args.quiet):
            logging.getLogger().setLevel(settings.log_level)
        return COMMANDS[args.command](args, settings, console)
    except InvalidInput as exc:
        render.invalid(err, exc.issues, set(vars(args)))
        return EXIT_INVALID
    except KeyboardInterrupt:
        return EXIT_INTERNAL
    except Exception as exc:
        log.debug("internal error", exc_info=True)
        log.error("internal error: %s (run with -v for details)", exc)
        return EXIT_INTERNAL
