"""The four canonical tables, read from a folder and validated, as Ibis tables.

A data folder holds ``enrolments`` and ``events`` (required) and ``surveys``, ``outcomes`` and
``assessments`` (the course calendar; optional), each as ``NAME.parquet``, ``NAME.csv`` or a
folder ``NAME/`` of Parquet files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd
from ibis.backends import BaseBackend

from mooc_risk.errors import InputError
from mooc_risk.features.canonical import validation
from mooc_risk.features.canonical.engine import read_file
from mooc_risk.features.canonical.schemas import ASSESSMENT_KEYS, survey_schema, table_schema
from mooc_risk.features.constructs import ConstructMap
from mooc_risk.files import recover_folder

REQUIRED = ("enrolments", "events")
OPTIONAL = ("surveys", "outcomes", "assessments")


@dataclass(frozen=True)
class Tables:
    """Canonical, validated tables on one engine. ``outcomes`` and ``assessments`` are None
    when not given."""

    enrolments: ibis.Table
    events: ibis.Table
    surveys: ibis.Table
    outcomes: ibis.Table | None = None
    assessments: ibis.Table | None = None


def find_table(folder: Path, name: str) -> Path | None:
    """The file (or Parquet folder) holding table ``name`` in ``folder``, if any."""
    candidates = [folder / f"{name}.parquet", folder / f"{name}.csv", folder / name]
    found = [p for p in candidates if p.exists()]
    if len(found) > 1:
        shown = ", ".join(p.name for p in found)
        raise InputError(f"{folder}: table {name!r} is given more than once ({shown}); keep one")
    return found[0] if found else None


def read_tables(folder: Path | str, con: BaseBackend, cmap: ConstructMap) -> Tables:
    """Read and validate the canonical tables in ``folder``; raise InputError on bad input.
    A folder an import killed mid-swap left aside is put back first (``recover_folder``)."""
    folder = Path(folder)
    recover_folder(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such data folder")
    paths = {name: find_table(folder, name) for name in REQUIRED + OPTIONAL}
    missing = [n for n in REQUIRED if paths[n] is None]
    if missing:
        raise InputError(
            f"{folder}: missing table(s) {', '.join(missing)} "
            f"(expected NAME.parquet, NAME.csv or a folder NAME/ of Parquet files)"
        )
    raw = {name: _read(con, path) for name, path in paths.items() if path is not None}
    return canonical_tables(raw, cmap, sources={n: str(p) for n, p in paths.items() if p})


def tables_from_frames(
    frames: dict[str, pd.DataFrame], cmap: ConstructMap, sources: dict[str, str] | None = None
) -> Tables:
    """Canonical tables from in-memory frames (a raw request, a test), validated the same way."""
    raw = {name: ibis.memtable(frame) for name, frame in frames.items() if frame is not None}
    return canonical_tables(raw, cmap, sources=sources or {n: n for n in raw})


def canonical_tables(
    raw: dict[str, ibis.Table], cmap: ConstructMap, sources: dict[str, str]
) -> Tables:
    """Validate raw tables against the contracts and check they agree with each other."""
    schemas = {name: table_schema(name) for name in REQUIRED + OPTIONAL}
    schemas["surveys"] = survey_schema(cmap.items, cmap.scale.min, cmap.scale.max)
    enrolments = validation.canonical_table(raw["enrolments"], schemas["enrolments"],
                                            sources["enrolments"])
    validation.check_unique_keys(enrolments, sources["enrolments"], "enrolment")
    _check_scheduled_runs_have_start(enrolments, sources["enrolments"])
    typed = {"enrolments": enrolments}
    for name in ("events", "surveys", "outcomes"):
        if name in raw:
            typed[name] = validation.canonical_table(raw[name], schemas[name], sources[name],
                                                     enrolments=enrolments)
    for name in ("surveys", "outcomes"):
        if name in typed:
            validation.check_unique_keys(typed[name], sources[name], f"{name[:-1]} row")
    if "assessments" in raw:
        typed["assessments"] = _calendar(raw["assessments"], schemas["assessments"],
                                         sources["assessments"], enrolments)
    surveys = typed.get("surveys")
    if surveys is None:
        surveys = _empty_like(enrolments, schemas["surveys"])
    return Tables(enrolments, typed["events"], surveys, typed.get("outcomes"),
                  typed.get("assessments"))


def _calendar(raw: ibis.Table, schema, source: str, enrolments: ibis.Table) -> ibis.Table:
    """The assessments table, typed; InputError for an assessment listed twice in a run or a
    run no enrolment has (a calendar for another data set)."""
    table = validation.canonical_table(raw, schema, source)
    validation.check_unique(table, source, "assessment", list(ASSESSMENT_KEYS))
    runs = enrolments.select("course_id", "run_id").distinct()
    unknown = table.select("course_id", "run_id").distinct().anti_join(runs, ["course_id", "run_id"])
    found = unknown.order_by(["course_id", "run_id"]).limit(validation.SHOWN_ROWS).to_pandas()
    if len(found):
        shown = "; ".join(f"course_id={c} run_id={r}" for c, r in found.itertuples(index=False))
        raise InputError(f"{source}: assessments of run(s) with no enrolment in the enrolments "
                         f"table; first: {shown}")
    return table


def _read(con: BaseBackend, path: Path) -> ibis.Table:
    try:
        return read_file(con, path)
    except Exception as exc:  # noqa: BLE001 - each engine raises its own types for bad files
        raise InputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None


def _check_scheduled_runs_have_start(enrolments: ibis.Table, source: str) -> None:
    bad = enrolments.filter(enrolments.course_end.notnull() & enrolments.course_start.isnull())
    rows = bad.select("learner_id", "course_id", "run_id").limit(validation.SHOWN_ROWS)
    found = rows.to_pandas()
    if len(found):
        raise InputError(
            f"{source}: column 'course_start' is empty for a scheduled run (course_end is set; "
            f"leave course_end empty for self-paced runs); first: {validation.format_keys(found)}"
        )


def _empty_like(enrolments: ibis.Table, schema) -> ibis.Table:
    """A typed, empty surveys table on the enrolments' engine."""
    nulls = {n: ibis.null().cast(c.dtype.type) for n, c in schema.columns.items()}
    return enrolments.limit(0).select(**nulls)
