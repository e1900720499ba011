"""What a log import could not use, by file and line.

Bad events (malformed, no user, no course, no usable timestamp) are listed one per line.
Events whose name is not in the vocabulary are imported as ``other``; they are listed once per
name and file, with their count and the line of the first, which is what a vocabulary needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.lines import blank_lines
from mooc_risk.features.sources.staging import has_table, quoted

UNKNOWN = "unknown event name (kept as other)"
VOIDED = "voided by a later statement (removed)"
FALLBACK = "fallback: "  # + where the field was found
READ, IMPORTED, FILE_SKIPPED = "records read", "records imported", "file skipped: "
NO_EVENTS = "file read, no events: "  # + what it gave (a course export: run dates)
REPEATED = "repeated (the same event earlier in the input, kept once)"
ALREADY = "already in the folder (--append)"
VOIDING = "voiding statements (not events)"
ROW_BITS = 40  # parsed.row = file << ROW_BITS | position of the row in the file's part
EXAMPLES = 5
SHOWN_FILES = 20  # the printed summary lists this many files, then totals


@dataclass(frozen=True)
class FileReport:
    """What became of one input file's records."""

    path: str
    read: int = 0  # records (non-blank lines, or array elements)
    imported: int = 0  # new events written from it
    skipped: dict[str, int] = field(default_factory=dict)  # reason → records not imported
    fallbacks: dict[str, int] = field(default_factory=dict)  # where a field was found → records
    not_read: str | None = None  # why the file itself was skipped
    no_events: str | None = None  # what a file read for something else than events gave

    def line(self) -> str:
        if self.not_read:
            return f"{self.path}: not read ({self.not_read})"
        if self.no_events:
            return f"{self.path}: read, no events ({self.no_events})"
        text = f"{self.path}: {self.read:,} records, {self.imported:,} imported"
        if self.skipped:
            text += "; " + ", ".join(f"{n:,} {reason}" for reason, n in self.skipped.items())
        if self.fallbacks:
            text += "; fallbacks: " + ", ".join(f"{n:,} {w}" for w, n in self.fallbacks.items())
        return text


@dataclass(frozen=True)
class Problems:
    counts: dict[str, int]  # reason → events
    examples: dict[str, list[str]]  # reason → the first few: "file:line" ("name at file:line")
    files: tuple[FileReport, ...] = ()

    def summary(self) -> str:
        if not self.counts:
            return "no problems"
        return "; ".join(f"{n:,} {reason} (first: {', '.join(self.examples[reason])})"
                         for reason, n in self.counts.items())

    def report(self) -> str:
        """The per-file lines printed after an import (the first ``SHOWN_FILES`` files)."""
        lines = [f.line() for f in self.files[:SHOWN_FILES]]
        if len(self.files) > SHOWN_FILES:
            lines.append(f"… and {len(self.files) - SHOWN_FILES:,} more files (in import_problems.csv)")
        return "\n".join(lines)

    def with_files(self, files: list[FileReport]) -> Problems:
        return Problems(self.counts, self.examples, tuple(files))

    def write_csv(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        """``file, line, reason, event_name, events``: per file its ``records read`` and
        ``records imported`` (or ``file skipped: …``); one row per bad or voided event; one per
        unknown event name and file, and per fallback and file (the first line, and how many)."""
        con.sql("""SELECT f.path AS file, line, reason, event_name, events
                   FROM problems p JOIN files f USING (file)
                   ORDER BY p.file, line NULLS FIRST, reason""").write_csv(str(path))


def find_problems(con: duckdb.DuckDBPyConnection, files: list[Path], numbered: list[bool],
                  strict: bool, work: Path, skipped: list[tuple[Path, str]] = (),
                  without_events: list[tuple[Path, str]] = ()) -> Problems:
    """Build the ``problems`` table from ``parsed``, ``names`` and ``voided``; with ``strict``
    the first problem (by file and line) is an error. Skipped files are listed too, and files
    read that hold no events (with what they gave)."""
    con.execute(f"""
        CREATE TABLE problems AS
        SELECT file, line, row, bad AS reason, NULL::VARCHAR AS event_name, 1 AS events
        FROM parsed WHERE bad IS NOT NULL
        UNION ALL
        SELECT file, line, row, '{VOIDED}', NULL, 1
        FROM parsed WHERE bad IS NULL AND voids IS NULL AND event_id IN (SELECT event_id FROM voided)
        UNION ALL
        SELECT file, min(line), min(row), '{UNKNOWN}', event_name, count(*)
        FROM parsed
        WHERE bad IS NULL AND voids IS NULL
              AND event_name IN (SELECT event_name FROM names WHERE kind = 'other')
        GROUP BY file, event_name
        UNION ALL
        SELECT file, min(line), min(row), '{FALLBACK}' || used, NULL, count(*)
        FROM (SELECT file, line, row, unnest(string_split(fallback, '; ')) AS used
              FROM parsed WHERE bad IS NULL AND fallback IS NOT NULL)
        GROUP BY file, used""")
    listed = [*files, *(p for p, _ in skipped), *(p for p, _ in without_events)]
    paths = ", ".join(f"({i}, {quoted(path)})" for i, path in enumerate(listed))
    con.execute(f"CREATE TABLE files AS SELECT * FROM (VALUES {paths}) t(file, path)")
    for number, path in enumerate(files):
        if not numbered[number]:
            _number_lines(con, number, path, work)
    rows = con.execute(f"""
        SELECT reason, sum(events)::BIGINT,
               list(CASE WHEN event_name IS NULL THEN path || ':' || line
                         ELSE '''' || event_name || ''' at ' || path || ':' || line END
                    ORDER BY file, line)[1:{EXAMPLES}]
        FROM problems JOIN files USING (file)
        WHERE NOT starts_with(reason, '{FALLBACK}')
        GROUP BY reason ORDER BY min(file), min(line)""").fetchall()
    problems = Problems({r: int(n) for r, n, _ in rows}, {r: list(ex) for r, _, ex in rows})
    first = con.execute(f"""SELECT file, line, reason FROM problems
                            WHERE reason <> '{VOIDED}' AND NOT starts_with(reason, '{FALLBACK}')
                            ORDER BY file, line LIMIT 1""").fetchone()
    if strict and first:
        file, line, reason = first
        raise InputError(f"{files[file]}:{line}: {reason} (--strict stops at the first problem; "
                         f"{sum(n for r, n in problems.counts.items() if r != VOIDED):,} in all)")
    if skipped or without_events:
        reasons = [*(FILE_SKIPPED + why for _, why in skipped),
                   *(NO_EVENTS + what for _, what in without_events)]
        listed_skips = ", ".join(f"({len(files) + i}, {quoted(reason)})" for i, reason in enumerate(reasons))
        con.execute(f"""INSERT INTO problems SELECT file, NULL, NULL, reason, NULL, 0
                        FROM (VALUES {listed_skips}) t(file, reason)""")
    return problems


# well-formed records that are nobody's course activity (site pages, logins, anonymous rows):
# skipped and reported, but not "broken" — they do not count towards --max-bad-share
NOT_ATTRIBUTED_SQL = ("bad IN ('event without a user', 'event without a course') "
                      "OR starts_with(bad, 'anonymous') OR starts_with(bad, 'not attributed')")


def check_usable(con: duckdb.DuckDBPyConnection, max_bad_share: float, appending: bool = False,
                 unidentified: tuple[str, ...] = ()) -> None:
    """Fail an import that would keep no event, or where more than ``max_bad_share`` of the
    records are broken (malformed, not UTF-8, no usable time, or learner activity whose learner
    the source cannot tell — ``unidentified`` hints, such as an edX username without a user id;
    records that are nobody's course activity are skipped but not broken); the message says
    what the records held instead.
    Voided statements are not kept; a batch of voiding statements alone is an import only onto
    a folder (``--append``) whose events they void.

    Raises:
        InputError: with the counts by reason and, where the source says, what was found
            in place of the missing field ("10 had only a username (no user_id)").
    """
    listed = ", ".join(quoted(h) for h in unidentified) or "NULL"
    read, broken, usable, voiding, voided = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE bad IS NOT NULL AND (NOT ({NOT_ATTRIBUTED_SQL})
                                                                  OR hint IN ({listed}))),
               count(*) FILTER (WHERE bad IS NULL AND voids IS NULL AND NOT is_voided),
               count(*) FILTER (WHERE bad IS NULL AND voids IS NOT NULL),
               count(*) FILTER (WHERE bad IS NULL AND voids IS NULL AND is_voided)
        FROM (SELECT *, coalesce(event_id IN (SELECT event_id FROM voided), false) AS is_voided
              FROM parsed)""").fetchone()
    if (usable or (voiding and appending)) and broken <= max_bad_share * read:
        return
    reasons = con.execute("""SELECT bad, count(*) FROM parsed WHERE bad IS NOT NULL
                             GROUP BY bad ORDER BY count(*) DESC, bad""").fetchall()
    hints = con.execute("""SELECT hint, count(*) FROM parsed
                           WHERE bad IS NOT NULL AND hint IS NOT NULL AND hint <> bad
                           GROUP BY hint ORDER BY count(*) DESC, hint""").fetchall()
    found = "; ".join(f"{n:,} {reason}" for reason, n in reasons)
    if voiding:
        found += ("; " if found else "") + f"{voiding:,} voiding statements"
    if voided:
        found += ("; " if found else "") + f"{voided:,} statements voided by them"
    if hints:
        found += " — of those, " + "; ".join(f"{n:,} had {hint}" for hint, n in hints)
    head = (f"nothing to import: 0 of {read:,} records could be used" if not usable else
            f"{broken:,} of {read:,} records are broken, more than the "
            f"{max_bad_share:.0%} allowed (--max-bad-share)")
    raise InputError(f"{head}: {found or 'the files hold no records'}. Is --source right for "
                     "these files? --strict names the first bad record's file and line.")


def file_reports(con: duckdb.DuckDBPyConnection) -> list[FileReport]:
    """Per file: records read and imported, skipped by reason, fallbacks (``problems``,
    ``parsed``, ``repeated`` and ``voided`` must exist, and ``appended`` after an ``--append``);
    the counts are added to ``problems``."""
    kept = ("bad IS NULL AND voids IS NULL AND row NOT IN (SELECT row FROM repeated) "
            "AND (event_id IS NULL OR event_id NOT IN (SELECT event_id FROM voided))")
    imported = f"{kept} AND row IN (SELECT row FROM appended)" if has_table(con, "appended") else kept
    con.execute(f"""
        INSERT INTO problems
        SELECT file, NULL, NULL, '{READ}', NULL, count(*) FROM parsed GROUP BY file
        UNION ALL
        SELECT file, NULL, NULL, '{IMPORTED}', NULL, count(*) FILTER ({imported})
        FROM parsed GROUP BY file
        UNION ALL
        SELECT file, NULL, NULL, '{ALREADY}', NULL, count(*) FILTER (WHERE {kept} AND NOT ({imported}))
        FROM parsed GROUP BY file HAVING count(*) FILTER (WHERE {kept} AND NOT ({imported})) > 0
        UNION ALL
        SELECT file, NULL, NULL, '{REPEATED}', NULL, count(*) FROM parsed
        WHERE row IN (SELECT row FROM repeated) GROUP BY file
        UNION ALL
        SELECT file, NULL, NULL, '{VOIDING}', NULL, count(*) FROM parsed
        WHERE bad IS NULL AND voids IS NOT NULL GROUP BY file""")
    rows = con.execute(f"""SELECT f.file, f.path, p.reason, sum(p.events)::BIGINT
                           FROM files f LEFT JOIN problems p USING (file)
                           WHERE p.reason IS NULL OR p.reason <> '{UNKNOWN}'
                           GROUP BY ALL ORDER BY f.file""").fetchall()
    reports: dict[int, dict] = {}
    for file, path, reason, n in rows:
        report = reports.setdefault(file, {"path": path, "skipped": {}, "fallbacks": {}})
        if reason == READ:
            report["read"] = n
        elif reason == IMPORTED:
            report["imported"] = n
        elif reason and reason.startswith(FILE_SKIPPED):
            report["not_read"] = reason.removeprefix(FILE_SKIPPED)
        elif reason and reason.startswith(NO_EVENTS):
            report["no_events"] = reason.removeprefix(NO_EVENTS)
        elif reason and reason.startswith(FALLBACK):
            report["fallbacks"][reason.removeprefix(FALLBACK)] = n
        elif reason:
            report["skipped"][reason] = n
    return [FileReport(**report) for _, report in sorted(reports.items())]


def _number_lines(con: duckdb.DuckDBPyConnection, number: int, path: Path, work: Path) -> None:
    """Give a fast-read file's problems their line numbers: a row's record number is its
    position in the file's part, plus one; its line adds the blank lines before it."""
    last = con.execute(f"SELECT max(row) FROM problems WHERE file = {number}").fetchone()[0]
    if last is None:
        return
    mask = (1 << ROW_BITS) - 1
    found = work / f"blank-lines-{number}.csv"
    blanks = "(SELECT NULL::BIGINT AS b, 0 AS before WHERE false)"
    if blank_lines(path, (last & mask) + 1, found):
        blanks = f"""(SELECT b, sum(count(*)) OVER (ORDER BY b) AS before
                      FROM read_csv({quoted(found)}, columns={{'b': 'BIGINT'}}, header=false)
                      GROUP BY b)"""
    con.execute(f"""
        UPDATE problems SET line = r.line
        FROM (SELECT p.row, p.record + coalesce(k.before, 0) AS line
              FROM (SELECT row, (row & {mask}) + 1 AS record FROM problems WHERE file = {number}) p
              ASOF LEFT JOIN {blanks} k ON p.record > k.b) r
        WHERE problems.file = {number} AND problems.row = r.row""")
