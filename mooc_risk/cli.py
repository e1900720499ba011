"""The ``mooc-risk`` command line: one app, each stage registering its commands."""

from __future__ import annotations

import logging
import os
import sys

import typer

from mooc_risk.errors import InputError, ResourceError
from mooc_risk.features import commands as feature_commands
from mooc_risk.serving import commands as serving_commands
from mooc_risk.training import commands as training_commands

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="mooc-risk",
        help="Completion and dropout risk for MOOC learners: data → features → train → serve.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    feature_commands.register(app)
    training_commands.register(app)
    serving_commands.register(app)
    return app


def main() -> None:
    """Entry point: bad input data ends with its message and exit code 2, a resource that ran
    out (``ResourceError``) with its message and exit code 1, not a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow sets its level on import
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        build_app()(standalone_mode=True)
    except InputError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(EXIT_BAD_INPUT)
    except ResourceError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()
