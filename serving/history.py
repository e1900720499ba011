"""The predictions history that ``mooc-risk refresh`` keeps: every night's scores, one Parquet
file per date, Hive-partitioned by date under ``PathSettings.history_dir`` (``MOOC_RISK_HISTORY``,
default ``.mooc-risk/history``)::

    HISTORY/date=2024-05-20/predictions.parquet
    HISTORY/date=2024-05-21/predictions.parquet
    HISTORY/_runs/2024-05-21.json          (the refresh's result, ``serving.refresh``)

Read it with DuckDB (``SELECT * FROM read_parquet('HISTORY/*/*.parquet',
hive_partitioning = true)``: ``date`` comes from the folder name, typed DATE), with
``pyarrow.dataset`` (``partitioning="hive"``), or with ``read_history``.

One row per learner × target scored that night (the learners of each course's running run who
are on the list — ``features.population`` — as of 00:00 UTC of the date), sorted by
``course_id, run_id, learner_id, target``. Columns (``SCHEMA``; the date is the partition
key, not a column of the files):

============================  ========  =====================================================
column                        type      what (unit)
============================  ========  =====================================================
``date``                      date      the night's date (partition key ``date=YYYY-MM-DD``)
``course_id``                 string    course
``run_id``                    string    run of the course
``learner_id``                string    pseudonymous learner id
``target``                    string    ``dropout`` or ``certification``
``as_of_day``                 int64     course day scored (days since the run's start; in a
                                        self-paced run since the learner's enrolment)
``status``                    string    ``active``, ``inactive for N days``, ``never started``
``inactive_days``             int64     whole days since the last activity (null: never started)
``probability``               float64   calibrated probability of the target's label, 0–1
                                        (dropout: drops out; certification: is certified)
``risk``                      float64   risk, 0–1 (dropout: ``probability``; certification:
                                        1 − ``probability``)
``risk_band``                 string    ``low``, ``medium``, ``high``
``risk_low``                  float64   lower end of the risk's Venn-Abers interval, 0–1
                                        (null in files written before it existed)
``risk_high``                 float64   upper end of that interval, 0–1 (null: likewise)
``cold_start``                bool      the course had fewer training learners than the
                                        model's ``cold_start_min_learners`` (null: likewise)
``intervention``              string    the one suggested action for the learner that night
                                        (the same in both targets' rows)
``reason_<n>_group``          string    n = 1, 2, 3: the n-th strongest reason's group (null:
                                        fewer reasons)
``reason_<n>_feature``        string    the feature that carries it
``reason_<n>_value``          string    the learner's value of that feature, as text
``reason_<n>_contribution``   float64   its TreeSHAP contribution in the model's log-odds
                                        (positive raises P(label): for certification a reason
                                        has a negative contribution)
``reason_<n>_category``       string    engagement, motivation, prior knowledge, assessment,
                                        context
``reason_<n>_text``           string    the reason in words
``model``                     string    registered model name (``mooc-risk-dropout``, …)
``model_version``             string    its registry version
``data_version``              string    SHA-256 (64 hex digits) of the pinned canonical tables
                                        scored (``serving.data_versions``)
============================  ========  =====================================================

A date's file is written whole to a temporary file in its folder and renamed
(``mooc_risk.files.replacing``): a refresh killed at any point leaves the file that was there
(or none), never a part; a refresh of the same date replaces it, so the history has no
duplicate rows. Temporary files of killed writers are removed by ``remove_leftovers`` (the
refresh does, under its lock). A write that fails (a full disk, a file size limit, no
permission) raises ``HistoryWriteError`` naming the file, and leaves the previous file and no
temporary file.
"""

from __future__ import annotations

import errno
import os
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from mooc_risk.files import replacing

FILE = "predictions.parquet"
PARTITION = "date"
REASONS = 3
_REASON_FIELDS = (("group", pa.string()), ("feature", pa.string()), ("value", pa.string()),
                  ("contribution", pa.float64()), ("category", pa.string()), ("text", pa.string()))
SCHEMA = pa.schema([
    ("course_id", pa.string()), ("run_id", pa.string()), ("learner_id", pa.string()),
    ("target", pa.string()), ("as_of_day", pa.int64()), ("status", pa.string()),
    ("inactive_days", pa.int64()), ("probability", pa.float64()), ("risk", pa.float64()),
    ("risk_band", pa.string()), ("risk_low", pa.float64()), ("risk_high", pa.float64()),
    ("cold_start", pa.bool_()), ("intervention", pa.string()),
    *[(f"reason_{n}_{name}", kind) for n in range(1, REASONS + 1) for name, kind in _REASON_FIELDS],
    ("model", pa.string()), ("model_version", pa.string()), ("data_version", pa.string()),
])
ORDER = ["course_id", "run_id", "learner_id", "target"]
# columns added after the first files were written: optional in a frame to write (null when
# absent), and read as null from older files (``read_history`` reads with ``SCHEMA``)
ADDED = ("risk_low", "risk_high", "cold_start")
_NO_ROOM = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EFBIG: "the file size limit was hit"}


class HistoryWriteError(OSError):
    """A date's partition could not be written; the file that was there (or none) is left, and
    no temporary file. ``path`` (and ``filename``): the partition; ``errno``, ``strerror``:
    the cause's (ENOSPC, EDQUOT, EFBIG, EACCES, …). Its message is one line for a user: the
    partition's path, then the cause in words ("the disk is full (No space left on device)")."""

    def __init__(self, path: Path | str, code: int | None, reason: str):
        super().__init__(code, reason, str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        words = f"{_NO_ROOM[self.errno]} ({self.strerror})" if self.errno in _NO_ROOM else self.strerror
        return (f"cannot write the predictions history partition {self.path}: {words}; "
                "the date's previous file, if any, is left as it was")

    def __reduce__(self):
        return type(self), (self.path, self.errno, self.strerror)


def partition(history_dir: Path, day: date) -> Path:
    """The file of one date: ``HISTORY/date=YYYY-MM-DD/predictions.parquet``."""
    return Path(history_dir) / f"{PARTITION}={day:%Y-%m-%d}" / FILE


def write_day(history_dir: Path, day: date, frame: pd.DataFrame) -> Path:
    """Write (or replace) the date's predictions atomically; the file's path.

    ``frame``: ``SCHEMA``'s columns (others are dropped; missing reason columns and
    ``ADDED`` columns are null),
    e.g. ``serving.batch.score_population``'s frame with a ``data_version`` column. The file's
    bytes depend on the rows only (sorted, no timestamps, no pandas metadata), so writing the
    same predictions twice gives the same file.

    ValueError when a column is missing; ``HistoryWriteError`` (an OSError) when the file
    cannot be written (the disk is full, a file size limit, …): the date's previous file, if
    any, is left as it was.
    """
    missing = [c for c in SCHEMA.names
               if c not in frame.columns and not c.startswith("reason_") and c not in ADDED]
    if missing:
        raise ValueError(f"predictions frame lacks column(s) {', '.join(missing)}")
    frame = frame.reindex(columns=SCHEMA.names).sort_values(ORDER, kind="stable", ignore_index=True)
    frame["inactive_days"] = frame["inactive_days"].astype("Int64")
    frame["cold_start"] = frame["cold_start"].astype("boolean")
    table = pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False).replace_schema_metadata(None)
    path = partition(history_dir, day)
    try:
        with replacing(path) as tmp:  # on a failure it removes the temporary file
            pq.write_table(table, tmp, compression="zstd")
    except OSError as exc:  # pyarrow's says "Error writing bytes to file. Detail: [errno 28] …"
        reason = os.strerror(exc.errno) if exc.errno else " ".join(str(exc).split())
        raise HistoryWriteError(path, exc.errno, reason) from exc
    return path


def dates(history_dir: Path) -> list[date]:
    """The dates the history holds, oldest first."""
    root = Path(history_dir)
    if not root.is_dir():
        return []
    found = []
    for folder in root.glob(f"{PARTITION}=*"):
        try:
            day = date.fromisoformat(folder.name.split("=", 1)[1])
        except ValueError:
            continue
        if (folder / FILE).is_file():
            found.append(day)
    return sorted(found)


def empty_history() -> pd.DataFrame:
    """A history without rows: ``read_history``'s columns and types."""
    empty = pa.schema([(PARTITION, pa.date32()), *SCHEMA]).empty_table()
    return empty.to_pandas()[[PARTITION, *SCHEMA.names]]


def read_history(history_dir: Path, *, course_id: str | None = None, run_id: str | None = None,
                 learner_id: str | None = None) -> pd.DataFrame:
    """The history's rows (optionally of one course, run, learner), ``date`` first, sorted by
    date then ``ORDER``; an empty frame with the columns when there is no history yet."""
    columns = [PARTITION, *SCHEMA.names]
    root = Path(history_dir)
    if not dates(root):
        return empty_history()
    dataset = ds.dataset(root, format="parquet", schema=SCHEMA.append(pa.field(PARTITION, pa.date32())),
                         partitioning=ds.partitioning(pa.schema([(PARTITION, pa.date32())]), flavor="hive"),
                         exclude_invalid_files=False)  # "_runs/" and ".*" (temporary) are ignored
    condition = None
    for name, value in (("course_id", course_id), ("run_id", run_id), ("learner_id", learner_id)):
        if value is not None:
            term = ds.field(name) == value
            condition = term if condition is None else condition & term
    frame = dataset.to_table(filter=condition).to_pandas()[columns]
    return frame.sort_values([PARTITION, *ORDER], kind="stable", ignore_index=True)


def remove_leftovers(history_dir: Path) -> list[Path]:
    """Remove the temporary files of writers that were killed (``.NAME.*.tmp`` next to a
    partition or a result file); the files removed. Call it only where no other writer runs
    (the refresh holds its lock)."""
    root = Path(history_dir)
    if not root.is_dir():
        return []
    removed = []
    for tmp in [*root.glob("*/.*.tmp")]:
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed
