"""Turn a raw table into a canonical one, or stop with a message a user can act on.

Every failure raises ``InputError`` naming the file, the column and the first offending rows
(1-based data rows, the header not counted). Nothing here writes anything.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pandera.errors
from ibis import _
from pandera.api.ibis.container import DataFrameSchema

from mooc_risk.errors import InputError
from mooc_risk.features.canonical.schemas import KEYS

SHOWN_ROWS = 5
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")


def canonical_table(
    raw: ibis.Table, schema: DataFrameSchema, source: str, enrolments: ibis.Table | None = None
) -> ibis.Table:
    """Check columns, cast to the contract's types and run the contract's value checks; with
    ``enrolments``, also check that every row belongs to a known enrolment.

    A clean table costs one scan: cast failures, check violations and unknown enrolments are
    counted together in a single aggregate. Only when something fails are rows looked up.
    """
    check_columns(raw, schema, source)
    present = [n for n in schema.columns if n in raw.columns]
    typed = raw.select(
        **{
            n: _cast(raw[n], c.dtype.type) if n in raw.columns else ibis.null().cast(c.dtype.type)
            for n, c in schema.columns.items()
        }
    )
    both = raw.select(*present, **{f"__cast_{n}": _cast(raw[n], schema.columns[n].dtype.type)
                                   for n in present})
    scan, counts = both, {}
    if enrolments is not None:
        known = enrolments.select(*[enrolments[k].name(f"__known_{k}") for k in KEYS])
        known = known.mutate(__known=ibis.literal(1))
        scan = both.left_join(known, [both[f"__cast_{k}"] == known[f"__known_{k}"] for k in KEYS])
        counts["unknown enrolments"] = scan.__known.isnull().cast("int64").sum()
    for n in present:
        counts[f"unparsed {n}"] = (scan[n].notnull() & scan[f"__cast_{n}"].isnull()).cast("int64").sum()
    violations = _violation_counts(schema, {n: scan[f"__cast_{n}"] for n in present})
    found = scan.aggregate(**counts, **(violations or {})).to_pandas().iloc[0].fillna(0)
    for name in present:
        if found[f"unparsed {name}"] > 0:
            count = int(found[f"unparsed {name}"])
            raise InputError(_unparsed_message(both, schema, source, name, count))
    if violations is None or (found[list(violations)] > 0).any():
        check_values(typed, schema, source)
    if enrolments is not None and found["unknown enrolments"] > 0:
        check_known_enrolments(typed, enrolments, source)
    return typed


def check_columns(raw: ibis.Table, schema: DataFrameSchema, source: str) -> None:
    missing = [n for n, c in schema.columns.items() if c.required and n not in raw.columns]
    if missing:
        raise InputError(
            f"{source}: missing required column(s) {', '.join(map(repr, missing))}; "
            f"found {', '.join(map(repr, raw.columns)) or 'no columns'}"
        )


def _unparsed_message(
    both: ibis.Table, schema: DataFrameSchema, source: str, name: str, count: int
) -> str:
    numbered = both.mutate(__row=ibis.row_number().over() + 1)
    failed = numbered[name].notnull() & numbered[f"__cast_{name}"].isnull()
    rows = numbered.filter(failed).order_by("__row").limit(SHOWN_ROWS)
    examples = rows.select("__row", name).to_pandas()
    shown = ", ".join(f"row {r}: {v!r}" for r, v in examples.itertuples(index=False))
    return (f"{source}: column {name!r} has {count} value(s) that are not a valid "
            f"{_type_name(schema.columns[name].dtype.type)}; first: {shown}")


def _cast(column: ibis.Value, target: dt.DataType) -> ibis.Value:
    source = column.type()
    if target.is_timestamp():
        if source.is_timestamp():
            ts = column.cast(dt.Timestamp()) if source.timezone else column
        else:
            ts = column.cast("string").try_cast(dt.Timestamp(timezone="UTC")).cast(dt.Timestamp())
        return ts.truncate("s")
    if target.is_boolean() and source.is_string():
        text = column.strip().lower()
        return ibis.cases((text.isin(_TRUE), True), (text.isin(_FALSE), False), else_=None).cast(
            "boolean"
        )
    if target.is_string():
        return column.cast("string")
    if source == target:
        return column
    if target.is_integer() and source.is_string():
        as_float = column.try_cast("float64")
        return ibis.ifelse(as_float == as_float.floor(), as_float, None).cast(target)
    return column.try_cast(target)


def _type_name(target: dt.DataType) -> str:
    if target.is_timestamp():
        return "timestamp (ISO 8601, e.g. 2024-02-01T09:30:00Z)"
    if target.is_boolean():
        return "boolean (true/false)"
    if target.is_integer():
        return "whole number"
    if target.is_floating():
        return "number"
    return str(target)


def check_values(typed: ibis.Table, schema: DataFrameSchema, source: str) -> None:
    """Run the pandera checks (types, nulls, ranges) lazily and report the first failure."""
    try:
        schema.validate(typed, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise InputError(_describe_failures(typed, exc.failure_cases, source)) from None


def _violation(column: ibis.Value, check) -> ibis.Value | None:
    """The Ibis form of a pandera check's failure, for the checks the contracts use."""
    stats = check.statistics
    if check.name == "greater_than_or_equal_to":
        return column < stats["min_value"]
    if check.name == "less_than_or_equal_to":
        return column > stats["max_value"]
    if check.name == "in_range":
        return (column < stats["min_value"]) | (column > stats["max_value"])
    return None


def _violation_counts(schema: DataFrameSchema, columns: dict[str, ibis.Value]) -> dict | None:
    """Aggregates counting null and check violations per present column (an absent optional
    column is all null and breaks nothing), or None when a check has no Ibis form here (then
    pandera runs every check).

    pandera's Ibis backend runs one query per check (70 for a survey); counting the same
    schema's checks in the caller's single scan confirms a clean table cheaply, and pandera
    runs (and words the message) only when something fails. pandera 0.35's Ibis null check
    also wrongly fails empty tables, which this path never asks it about.
    """
    counts = {}
    for name, value in columns.items():
        spec = schema.columns[name]
        if not spec.nullable:
            counts[f"null {name}"] = value.isnull().cast("int64").sum()
        for i, check in enumerate(spec.checks):
            failing = _violation(value, check)
            if failing is None:
                return None
            counts[f"check {name} {i}"] = failing.fill_null(False).cast("int64").sum()
    return counts


def _describe_failures(typed: ibis.Table, cases: pd.DataFrame, source: str) -> str:
    lines = []
    for (column, check), group in _normalised(cases).groupby(["column", "check"], sort=False):
        if check == "not_nullable":
            rows = _null_rows(typed, column)
            lines.append(f"column {column!r} must not be empty; first empty at {rows}")
            continue
        shown = ", ".join(
            f"row {int(i) + 1}: {v!r}" if pd.notna(i) else repr(v)
            for i, v in group[["index", "value"]].head(SHOWN_ROWS).itertuples(index=False)
        )
        lines.append(f"column {column!r} fails {check} in {len(group)} row(s); first: {shown}")
    return f"{source}: " + "; ".join(lines)


def _normalised(cases: pd.DataFrame) -> pd.DataFrame:
    """pandera's Ibis backend (0.35) reports element-wise failures under the column name
    'failure_case' with the value as {column: value}; undo that so the real column is named."""
    rows = []
    for case in cases.to_dict("records"):
        column, value = case["column"], case["failure_case"]
        if isinstance(value, dict) and len(value) == 1:
            ((column, value),) = value.items()
        rows.append({"column": column, "check": case["check"], "index": case["index"],
                     "value": value})
    return pd.DataFrame(rows, columns=["column", "check", "index", "value"])


def _null_rows(typed: ibis.Table, column: str) -> str:
    numbered = typed.mutate(__row=ibis.row_number().over() + 1)
    rows = numbered.filter(numbered[column].isnull()).order_by("__row").limit(SHOWN_ROWS)
    return ", ".join(f"row {r}" for r in rows.__row.to_pandas())


def check_unique_keys(table: ibis.Table, source: str, what: str) -> None:
    """At most one row per enrolment (learner_id, course_id, run_id)."""
    check_unique(table, source, what, list(KEYS))


def check_unique(table: ibis.Table, source: str, what: str, keys: list[str]) -> None:
    """At most one row per ``keys``; InputError naming the first repeated keys otherwise."""
    dupes = table.group_by(keys).aggregate(rows=_.count()).filter(_.rows > 1).order_by(keys)
    found = dupes.limit(SHOWN_ROWS).to_pandas()
    if len(found):
        total = dupes.count().to_pandas()
        raise InputError(
            f"{source}: duplicate {what} — {int(total)} key(s) ({', '.join(keys)}) "
            f"appear more than once; first: {format_keys(found, keys)}"
        )


def check_known_enrolments(table: ibis.Table, enrolments: ibis.Table, source: str) -> None:
    """Every row must belong to an enrolment listed in the enrolments table."""
    known = enrolments.select(*KEYS).distinct()
    orphans = table.anti_join(known, list(KEYS)).select(*KEYS).distinct().order_by(list(KEYS))
    found = orphans.limit(SHOWN_ROWS).to_pandas()
    if len(found):
        total = orphans.count().to_pandas()
        raise InputError(
            f"{source}: rows for {int(total)} enrolment(s) not in the enrolments table; "
            f"first: {format_keys(found)}"
        )


def format_keys(frame: pd.DataFrame, keys: list[str] | tuple[str, ...] = KEYS) -> str:
    parts = []
    for row in frame.to_dict("records"):
        extra = f" ({row['rows']} rows)" if "rows" in row else ""
        parts.append(" ".join(f"{k}={row[k]}" for k in keys) + extra)
    return "; ".join(parts)
