"""``mooc-risk keys``: per-course API keys (stored hashed): add, list, revoke."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated

import typer

from mooc_risk.errors import InputError

keys_app = typer.Typer(help="Per-course API keys (stored hashed): add, list, revoke.", no_args_is_help=True)

EXIT_BAD_INPUT = 2
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_HINT = "'--expires'"
_EXPIRES_HELP = "When the key stops working: a duration (12h, 30d, 2w) or a date (YYYY-MM-DD, UTC)."


def parse_expires(text: str, now: datetime) -> datetime:
    """``--expires``: '12h', '30d', '2w' from ``now``, or 'YYYY-MM-DD' (the key stops working at
    the start of that day, UTC); typer.BadParameter unless it is one of them and in the future."""
    text = text.strip().lower()
    duration = re.fullmatch(r"(\d+)\s*([hdw])", text)
    try:
        if duration:
            moment = now + int(duration[1]) * _UNITS[duration[2]]
        else:
            day = date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
            if day is None:
                raise typer.BadParameter(f"{text!r} is neither a duration nor a date; e.g. --expires 30d, "
                                         "--expires 12h, --expires 2w or --expires 2030-06-30",
                                         param_hint=_HINT)
            moment = datetime(day.year, day.month, day.day)
    except (ValueError, OverflowError):
        raise typer.BadParameter(f"{text!r}: no such date, or too far ahead; e.g. --expires 30d or "
                                 "--expires 2030-06-30", param_hint=_HINT) from None
    if moment <= now:
        raise typer.BadParameter(f"{text!r} is not in the future; e.g. --expires 30d or --expires "
                                 f"{(now + timedelta(days=30)):%Y-%m-%d}", param_hint=_HINT)
    return moment


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(EXIT_BAD_INPUT)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


@keys_app.command("add")
def add_key(
    course: Annotated[str, typer.Option("--course", help="Course id the key opens; '*' for all.")],
    label: Annotated[str, typer.Option("--label", help="Who or what the key is for, e.g. 'tutors of C001'.")]
    = "",
    expires: Annotated[str | None, typer.Option("--expires", help=_EXPIRES_HELP)] = None,
) -> None:
    """Create an API key for a course; it is printed once, as the last word of the output."""
    from mooc_risk.serving.keys import create_key, utc_now
    from mooc_risk.settings import PathSettings

    now = utc_now()
    expires_at = None if expires is None else parse_expires(expires, now)
    path = PathSettings.from_env().keys_file
    try:
        entry, key = create_key(path, course, label=label, expires_at=expires_at, now=now)
    except InputError as exc:
        raise _fail(str(exc)) from None
    described = f"label {entry.label!r}" if entry.label else "no label"
    described += f", expires {_when(entry.expires_at)} UTC" if entry.expires_at else ", no expiry"
    typer.echo(f"new key {entry.id} for course {entry.course} ({described}; only its hash is kept, "
               f"in {path}): {key}")


@keys_app.command("list")
def list_keys() -> None:
    """Every key with its status (active, expired, revoked); times in UTC. Never shows a key
    or its hash."""
    from mooc_risk.serving.keys import KeyRing, utc_now
    from mooc_risk.settings import PathSettings

    path = PathSettings.from_env().keys_file
    try:
        entries = KeyRing.load(path).entries
    except InputError as exc:
        raise _fail(str(exc)) from None
    if not entries:
        typer.echo(f"no keys in {path} (add one with `mooc-risk keys add --course C`)")
        return
    now = utc_now()
    rows = [("ID", "COURSE", "LABEL", "CREATED (UTC)", "EXPIRES (UTC)", "STATUS")]
    rows += [(e.id, e.course, e.label or "-", _when(e.created_at), _when(e.expires_at), e.status(now=now))
             for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `mooc-risk keys list` shows.")],
) -> None:
    """Revoke a key: requests with it get 401 at once, without a restart. Its entry stays in
    the file (for audit), marked revoked."""
    from mooc_risk.serving.keys import NoSuchKey
    from mooc_risk.serving.keys import revoke_key as revoke
    from mooc_risk.settings import PathSettings

    path = PathSettings.from_env().keys_file
    try:
        entry, changed = revoke(path, key_id)
    except NoSuchKey:
        raise _fail(f"no key with id {key_id!r} (see `mooc-risk keys list`)") from None
    except InputError as exc:
        raise _fail(str(exc)) from None
    if changed:
        typer.echo(f"revoked key {entry.id} for course {entry.course}; it stops working at once")
    else:
        typer.echo(f"key {entry.id} for course {entry.course} was already revoked "
                   f"(on {_when(entry.revoked_at)} UTC)")
