"""``mooc-risk keys``: per-course API keys (stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer

keys_app = typer.Typer(help="Per-course API keys (stored hashed).", no_args_is_help=True)


@keys_app.command("add")
def add_key(
    course: Annotated[str, typer.Option("--course", help="Course id the key opens; '*' for all.")],
) -> None:
    """Create an API key for a course; it is printed once, as the last word of the output."""
    from mooc_risk.serving.keys import add_key as create
    from mooc_risk.settings import PathSettings

    path = PathSettings.from_env().keys_file
    key = create(path, course)
    typer.echo(f"new key for course {course} (only its hash is kept, in {path}): {key}")
