"""What the course and learner pages show, as plain data: the filtered, paged list of a run's
learners, the spreadsheet and mail-merge exports, and the risk chart's points. No HTTP here."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

SHOWN_REASONS = 3
PAGE_SIZE = 25
BANDS = ("high", "medium", "low")
STATUSES = ("active", "inactive", "never started")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP: CSV injection


@dataclass(frozen=True)
class Filters:
    """The course page's filters; an empty string means "any"."""

    band: str = ""
    status: str = ""
    category: str = ""
    action: str = ""

    def apply(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The rows that pass every filter, in their order. ``status`` "inactive" matches any
        "inactive for N days"; ``category`` matches any of the shown reasons' categories."""
        keep = pd.Series(True, index=rows.index)
        if self.band:
            keep &= rows["risk_band"] == self.band
        if self.status == "inactive":
            keep &= rows["status"].astype(str).str.startswith("inactive")
        elif self.status:
            keep &= rows["status"] == self.status
        if self.category:
            shown = [c for n in range(1, SHOWN_REASONS + 1) if (c := f"reason_{n}_category") in rows]
            keep &= rows[shown].eq(self.category).any(axis=1) if shown else False
        if self.action:
            keep &= rows["intervention"] == self.action
        return rows[keep]

    def query(self) -> dict[str, str]:
        """The filters that are set, for links and forms."""
        return {k: v for k, v in asdict(self).items() if v}


def categories(rows: pd.DataFrame) -> list[str]:
    """The reason categories found among the shown reasons, sorted."""
    found: set[str] = set()
    for n in range(1, SHOWN_REASONS + 1):
        column = f"reason_{n}_category"
        if column in rows:
            found |= {str(v) for v in rows[column].dropna().unique()}
    return sorted(found)


def reasons(row: dict) -> list[dict]:
    """The row's shown reasons: ``text`` and ``category``, strongest first."""
    out = []
    for n in range(1, SHOWN_REASONS + 1):
        text = row.get(f"reason_{n}_text")
        if isinstance(text, str) and text:
            out.append({"text": text, "category": row.get(f"reason_{n}_category") or ""})
    return out


def page_of(rows: pd.DataFrame, page: int, size: int = PAGE_SIZE) -> tuple[pd.DataFrame, int, int]:
    """(the page's rows, the page number within range, the number of pages ≥ 1)."""
    pages = max(1, math.ceil(len(rows) / size))
    page = min(max(page, 1), pages)
    return rows.iloc[(page - 1) * size:page * size], page, pages


def with_last(rows: pd.DataFrame, last: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the newest intervention per learner (``Logbook.last``) beside them."""
    return rows.merge(last, left_on="learner_id", right_index=True, how="left")


def export_frame(rows: pd.DataFrame, day: int, data_date: str) -> pd.DataFrame:
    """The list as a spreadsheet: readable column names, risk in percent, one column per
    reason; text cells that a spreadsheet would run as a formula are quoted."""
    out = pd.DataFrame({
        "Learner ID": rows["learner_id"],
        "Run": rows["run_id"],
        "Status": rows["status"],
        "Days inactive": rows["inactive_days"],
        "Risk band": rows["risk_band"],
        "Risk (%)": (rows["risk"].astype(float) * 100).round(1),
        "Risk low (%)": (rows["risk_low"].astype(float) * 100).round(1) if "risk_low" in rows else None,
        "Risk high (%)": (rows["risk_high"].astype(float) * 100).round(1) if "risk_high" in rows else None,
        "New course": rows["cold_start"].map({True: "yes", False: "no"}) if "cold_start" in rows else None,
        **{f"Reason {n}": rows.get(f"reason_{n}_text") for n in range(1, SHOWN_REASONS + 1)},
        "Suggested action": rows["intervention"],
        "Holdout until": rows.get("holdout_until"),
        "Last intervention": rows.get("last_action"),
        "Last intervention at (UTC)": _dates(rows.get("last_at")),
        "Last intervention by": rows.get("last_by"),
        "As-of day": day,
        "Data up to": data_date,
        "Model": rows["model"],
        "Model version": rows["model_version"],
    })
    return _safe(out.reset_index(drop=True))


def mail_merge_frame(rows: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """Name, e-mail and what to say, for a mail merge: the roster's ``display_name`` and
    ``email`` beside each listed learner (``people`` in the rows' order), leaving out the
    learners in the holdout (``holdout_until`` set: their action is withheld)."""
    if "holdout_until" in rows:
        keep = rows["holdout_until"].isna().to_numpy()
        rows, people = rows[keep], people[keep]
    out = pd.DataFrame({
        "Name": people["display_name"].to_numpy(),
        "Email": people["email"].to_numpy(),
        "Learner ID": rows["learner_id"].to_numpy(),
        "Risk band": rows["risk_band"].to_numpy(),
        "Suggested action": rows["intervention"].to_numpy(),
        "Main reason": rows["reason_1_text"].to_numpy() if "reason_1_text" in rows else "",
    })
    return _safe(out)


def _dates(values) -> object:
    if values is None:
        return None
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d %H:%M")


def _safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells starting with ``FORMULA_START`` get a leading apostrophe (numbers do not)."""
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            frame[column] = values.map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return frame


def chart_points(history: list, width: int = 360, height: int = 120, pad: int = 24) -> dict:
    """An SVG line chart of risk (0–1) over as-of days, from ``RiskApp.risk_history``'s
    points (``day``, ``risk``, ``issued``, ``model_version``): ``points`` ("x,y ..." for a
    polyline), ``dots`` (x, y, day, risk in %, ``issued`` — the night's date as text, or ""
    for a risk scored now — and the model version) and the axis ``ticks``."""
    if not history:
        return {"points": "", "dots": [], "ticks": [], "width": width, "height": height}
    days = [p.day for p in history]
    low, high = min(days), max(days)
    span = max(high - low, 1)

    def x(day: int) -> float:
        return pad + (day - low) / span * (width - 2 * pad) if high > low else width / 2

    def y(risk: float) -> float:
        return height - pad - risk * (height - 2 * pad)

    dots = [{"x": round(x(p.day), 1), "y": round(y(p.risk), 1), "day": p.day, "risk": round(p.risk * 100),
             "issued": f"{p.issued:%Y-%m-%d}" if p.issued else "", "model_version": p.model_version}
            for p in history]
    return {"points": " ".join(f"{p['x']},{p['y']}" for p in dots), "dots": dots,
            "ticks": [{"y": round(y(v), 1), "label": f"{round(v * 100)}%"} for v in (0.0, 0.5, 1.0)],
            "width": width, "height": height}
