"""What a log import could not use, by file and line.

Bad events (malformed, no user, no course, no usable timestamp) are listed one per line.
Events whose name is not in the vocabulary are imported as ``other``; they are listed once per
name and file, with their count and the line of the first, which is what a vocabulary needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.lines import blank_lines
from mooc_risk.features.sources.staging import quoted

UNKNOWN = "unknown event name (kept as other)"
ROW_BITS = 40  # parsed.row = file << ROW_BITS | position of the row in the file's part
EXAMPLES = 5


@dataclass(frozen=True)
class Problems:
    counts: dict[str, int]  # reason → events
    examples: dict[str, list[str]]  # reason → the first few: "file:line" ("name at file:line")

    def summary(self) -> str:
        if not self.counts:
            return "no problems"
        return "; ".join(f"{n:,} {reason} (first: {', '.join(self.examples[reason])})"
                         for reason, n in self.counts.items())

    def write_csv(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        """``file, line, reason, event_name, events``: one row per bad event, and one per
        unknown event name and file (its first line, and how many events)."""
        con.sql("""SELECT f.path AS file, line, reason, event_name, events
                   FROM problems p JOIN files f USING (file) ORDER BY p.file, p.line""").write_csv(str(path))


def find_problems(con: duckdb.DuckDBPyConnection, files: list[Path], numbered: list[bool],
                  strict: bool, work: Path) -> Problems:
    """Build the ``problems`` table from ``parsed`` and ``names``; with ``strict`` the first
    one (by file and line) is an error."""
    con.execute(f"""
        CREATE TABLE problems AS
        SELECT file, line, row, bad AS reason, NULL::VARCHAR AS event_name, 1 AS events
        FROM parsed WHERE bad IS NOT NULL
        UNION ALL
        SELECT file, min(line), min(row), '{UNKNOWN}', event_name, count(*)
        FROM parsed
        WHERE bad IS NULL AND event_name IN (SELECT event_name FROM names WHERE kind = 'other')
        GROUP BY file, event_name""")
    paths = ", ".join(f"({i}, {quoted(path)})" for i, path in enumerate(files))
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
        GROUP BY reason ORDER BY min(file), min(line)""").fetchall()
    problems = Problems({r: int(n) for r, n, _ in rows}, {r: list(ex) for r, _, ex in rows})
    if strict and rows:
        file, line, reason = con.execute(
            "SELECT file, line, reason FROM problems ORDER BY file, line LIMIT 1").fetchone()
        raise InputError(f"{files[file]}:{line}: {reason} (--strict stops at the first problem; "
                         f"{sum(problems.counts.values()):,} in all)")
    return problems


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
