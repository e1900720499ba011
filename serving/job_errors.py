"""How the commands a scheduler runs (``refresh``, ``monitor``) fail: bad input goes on to the
CLI root (its message, exit 2); anything else is one line on stderr and exit 1, or the
traceback with ``--debug``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from mooc_risk.errors import InputError


@contextmanager
def one_line_on_failure(what: str, debug: bool) -> Iterator[None]:
    """Run the block; on a failure that is not bad input print ``error: {what} failed: Type:
    message`` (the message on one line) and exit 1 — with ``debug``, raise it as it is."""
    try:
        yield
    except (InputError, typer.Exit, typer.Abort):
        raise  # bad input: the CLI root prints it, exit 2
    except Exception as exc:
        if debug:
            raise
        text = " ".join(str(exc).split()) or type(exc).__name__
        typer.secho(f"error: {what} failed: {type(exc).__name__}: {text}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
