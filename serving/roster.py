"""The optional roster: who is behind a pseudonymous learner id, so a course team can reach them.

``roster.csv`` or ``roster.parquet`` in the data folder, one row per learner: ``learner_id``,
``display_name`` and ``email`` (either may be empty). Only the web app reads it, and only for
the learners of the course a key opens; training, features, models, reports and logs never see
it. Error messages name the file, the row and the column, never a value from it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mooc_risk.errors import InputError

log = logging.getLogger(__name__)
COLUMNS = ("learner_id", "display_name", "email")
NAMES = ("roster.csv", "roster.parquet")


def roster_file(data_dir: Path) -> Path | None:
    """The data folder's roster file, if any; InputError when both forms are present."""
    found = [data_dir / n for n in NAMES if (data_dir / n).is_file()]
    if len(found) > 1:
        raise InputError("the data folder has both roster.csv and roster.parquet; keep one")
    return found[0] if found else None


def read_roster(path: Path) -> pd.DataFrame:
    """The roster at ``path`` as a frame indexed by ``learner_id`` with columns
    ``display_name`` and ``email`` (strings, empty when not given). InputError naming the file
    and the row for a missing column, an empty or repeated learner id, or an e-mail address
    without ``@``."""
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        else:
            frame = pd.read_parquet(path).astype("string").fillna("")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path.name}: not a readable roster ({type(exc).__name__})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path.name}: missing column(s) {missing}; a roster has {list(COLUMNS)}")
    frame = frame[list(COLUMNS)].astype(str).apply(lambda column: column.str.strip())
    rows = frame.index + 2  # the header is line 1 of a CSV
    empty = frame["learner_id"] == ""
    if empty.any():
        raise InputError(f"{path.name}: row {rows[empty.to_numpy()][0]}: learner_id is empty")
    repeated = frame["learner_id"].duplicated()
    if repeated.any():
        raise InputError(f"{path.name}: row {rows[repeated.to_numpy()][0]}: learner_id repeats an "
                         "earlier row")
    bad = (frame["email"] != "") & ~frame["email"].str.contains("@", regex=False)
    if bad.any():
        raise InputError(f"{path.name}: row {rows[bad.to_numpy()][0]}: email is not an e-mail address")
    return frame.set_index("learner_id")


@dataclass
class Roster:
    """The roster of a data folder, re-read when its file changes (no restart needed)."""

    data_dir: Path
    _stamp: tuple | None = None
    _frame: pd.DataFrame | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> pd.DataFrame | None:
        """The roster (``read_roster``) or None when the folder has none. A roster that
        cannot be read after a change is logged (its error names no value) and the one read
        before is kept: a course team's page is not the place for a data folder's fault."""
        try:
            path = roster_file(self.data_dir)
        except InputError as exc:
            return self._keep(exc)
        if path is None:
            return None
        info = path.stat()
        stamp = (str(path), info.st_mtime_ns, info.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._frame = read_roster(path)
                except InputError as exc:
                    self._stamp = stamp
                    return self._keep(exc)
                self._stamp = stamp
            return self._frame

    def _keep(self, exc: InputError) -> pd.DataFrame | None:
        log.warning("roster not read, keeping the one read before (if any): %s", exc)
        return self._frame

    def people(self, learner_ids: list[str] | pd.Series) -> pd.DataFrame | None:
        """``display_name`` and ``email`` for these learners (in their order, empty strings for
        learners the roster lacks), or None without a roster."""
        frame = self.current()
        if frame is None:
            return None
        return frame.reindex(pd.Index(list(learner_ids), name="learner_id")).fillna("")
