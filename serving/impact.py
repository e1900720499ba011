"""Do the interventions help? Effects of course teams' actions on re-engagement and completion
(issue 15), from the intervention log and the data folder's events and outcomes.

Units and outcomes. A unit is one listed (at-risk) learner of a run with a time zero ``t0``
(naive UTC): the holdout draw's ``assigned_at`` (randomised) or the listing time ``listed_at``
(observational — for the learners acted on and the others alike). Outcomes, each 0/1 or NA
(not observable yet): ``reengaged_7d`` / ``reengaged_14d`` — any event with ``t0 < ts <= t0 +
7 (14) days``, NA when ``t0 + 7 (14) days`` is after the newest event in the data folder (the
window is not over); ``completed`` — ``certified`` in ``outcomes``, NA when it is unknown (no
outcome row, or empty) or the learner's scheduled run has not ended (``course_end`` after the
newest event); a self-paced run has no end, its ``certified`` is taken as given. What is NA
depends on time and run only, never on the outcome or the arm, so each estimate uses the units
whose outcome is observable (``n_treated``, ``n_control``; ``n_excluded`` the others).
Pre-treatment activity counts events strictly before ``t0``. Effects are differences in
proportions (treated minus untreated), in probability points (0.1 = +10 points).

Reading. The canonical tables come through ``features.canonical.tables.read_tables``
(``NAME.parquet``, ``NAME.csv`` or a folder ``NAME/`` of Parquet files, validated, times in
naive UTC) on DuckDB; only the units' events, ``ts`` only, reach pandas. The extra tables —
``interventions``, ``holdout``, ``at_risk`` — are found by ``find_table`` (the same three
layouts) and read by the same engine; their times may be naive (taken as UTC) or carry an
offset.

- **randomised** (``randomised``): where a holdout exists (``serving.holdout``; the synthetic
  ``holdout.parquet``): learners assigned to the action vs held out, among the same listed
  learners — an intention-to-treat contrast, grouped only by what was fixed before the draw:
  the *suggested* action and the risk band. What the team actually did (the newest log row per
  learner) is reported apart as counts (``actions_done``), never as a grouping. 95% interval:
  Newcombe's hybrid score interval for a difference of independent proportions (Newcombe 1998,
  "Interval estimation for the difference between independent proportions", method 10),
  ``statsmodels``' ``confint_proportions_2indep(method="newcomb", compare="diff")``; p-value
  from the score test, ``test_proportions_2indep(method="score", compare="diff")``
  (Miettinen–Nurminen, with its small-sample correction). Overall, by suggested action, by
  risk band, by band × suggested action.
- **observational** (``observational``): no holdout; treated vs untreated listed learners,
  adjusted for pre-treatment confounders (risk, band, activity before the listing) with
  EconML's doubly robust learner, outcomes counted from the listing for both arms. Why EconML:
  DoWhy 0.13/0.14 cap scipy ≤ 1.15.3, below our pin, and 0.12 breaks on networkx 3.6 and
  pandas 3; CausalML pulls about 800 MB (CUDA NCCL included); EconML 0.17 installs clean and
  ``LinearDRLearner`` is doubly robust with an analytic interval in about a second.
  Assumptions and overlap diagnostics go with every estimate (``ASSUMPTIONS``, ``overlap``),
  and the plain ``OBSERVATIONAL_WARNING``.

Errors: ``InputError`` (exit 2 in the command) for missing tables or columns, an empty log, or
units with no comparison group; estimates themselves never raise — a group too small to
estimate gives ``None`` figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mooc_risk.errors import InputError

KEYS = ["course_id", "run_id", "learner_id"]
OUTCOMES = ("reengaged_7d", "reengaged_14d", "completed")
ALPHA = 0.05
MIN_GROUP = 10  # fewer units in an arm: no estimate for that group
OBSERVATIONAL_WARNING = (
    "Observational estimate: nobody was held out at random, so this compares learners the team "
    "chose to act on with learners it did not. It is only as good as the assumptions below; a "
    "difference may come from who was chosen rather than from the action. Turn on a holdout "
    "for a randomised answer.")
ASSUMPTIONS = (
    "No unmeasured confounding: given risk, risk band and activity before the listing, who was "
    "acted on is unrelated to the outcomes they would have had.",
    "Positivity / overlap: every kind of learner had a real chance of being acted on and of "
    "not being acted on (see the overlap diagnostics).",
    "Consistency / SUTVA: one learner's outcome depends only on their own treatment, and the "
    "action is the same action whoever did it.",
    "Double robustness: at least one of the two nuisance models (propensity: logistic "
    "regression of treatment on the confounders; outcome: logistic regression of the outcome "
    "on treatment and confounders) is correctly specified.",
    "One time zero for both arms: the listing. Confounders count events strictly before it and "
    "the outcome windows start at it, for the learners acted on and the others alike; an action "
    "taken days after the listing is credited from the listing, so its effect is diluted, not "
    "inflated, by the wait.",
)


# ------------------------------------------------------------------------------- outcomes


def naive_utc(values: Any) -> pd.Series:
    """Times as naive UTC: text parsed, a time with an offset converted, a naive one taken as
    UTC (the canonical tables' convention)."""
    return pd.to_datetime(pd.Series(values), utc=True).dt.tz_localize(None)


def unit_outcomes(units: pd.DataFrame, events: pd.DataFrame, outcomes: pd.DataFrame | None,
                  as_of: Any = None, run_end: pd.DataFrame | None = None) -> pd.DataFrame:
    """``units`` (KEYS + ``t0``) with ``reengaged_7d``, ``reengaged_14d``, ``completed``
    (nullable Int64: 0, 1, or NA when not observable yet, see the module doc) and the
    pre-treatment activity ``events_before_7d`` (events in the 7 days before ``t0``),
    ``events_before`` (all before) and ``days_since_last`` (days from the last event before
    ``t0``, 999 when none) — "before" strictly. ``events``: KEYS + ``ts`` (at least the units'
    events); ``outcomes``: KEYS + ``certified`` (None: unknown for all); ``as_of``: the newest
    event of the whole data folder (default: the newest in ``events``); ``run_end``:
    ``course_id``, ``run_id``, ``course_end`` (NaT for a self-paced run; None: every run
    over)."""
    out = units.reset_index(drop=True).copy()
    out["t0"] = naive_utc(out["t0"]).to_numpy()
    out["_unit"] = np.arange(len(out))
    ev = events[[*KEYS, "ts"]].copy()
    for key in KEYS:
        ev[key] = ev[key].astype(str)
    ev["ts"] = naive_utc(ev["ts"]).to_numpy()
    left = out[[*KEYS, "t0", "_unit"]].astype({k: str for k in KEYS})
    joined = left.merge(ev, on=KEYS, how="inner")
    delta = (joined["ts"] - joined["t0"]).dt.total_seconds().to_numpy() / 86400
    n = len(out)
    as_of = naive_utc([as_of]).iloc[0] if as_of is not None else (
        ev["ts"].max() if len(ev) else pd.NaT)
    ends = (out["t0"] - as_of).dt.total_seconds().to_numpy() / 86400  # ≤ -days: window over

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(joined["_unit"].to_numpy()[mask], minlength=n)

    for days in (7, 14):
        seen = pd.array(count((delta > 0) & (delta <= days)) > 0, dtype="Int64")
        seen[~(ends <= -days)] = pd.NA  # the window is not over (NaN: no events in the data)
        out[f"reengaged_{days}d"] = seen
    before = delta < 0
    out["events_before_7d"] = count(before & (delta >= -7))
    out["events_before"] = count(before)
    last = pd.Series(np.where(before, -delta, np.inf)).groupby(joined["_unit"].to_numpy()).min()
    out["days_since_last"] = np.minimum(last.reindex(range(n)).fillna(np.inf).to_numpy(), 999.0)
    if outcomes is not None and "certified" in outcomes.columns:
        cert = outcomes[[*KEYS, "certified"]].astype({k: str for k in KEYS}).drop_duplicates(KEYS)
        certified = left[KEYS].merge(cert, on=KEYS, how="left")["certified"]
    else:
        certified = pd.Series(pd.NA, index=range(n), dtype="object")
    known = certified.notna().to_numpy().copy()
    if run_end is not None:
        runs = run_end[["course_id", "run_id", "course_end"]].astype({"course_id": str, "run_id": str})
        end = left[["course_id", "run_id"]].merge(runs.drop_duplicates(["course_id", "run_id"]),
                                                  on=["course_id", "run_id"], how="left")["course_end"]
        end = naive_utc(end)
        known = known & (end.isna() | (end <= as_of)).to_numpy()  # self-paced (no end) or ended
    completed = certified.where(known).map(lambda v: pd.NA if pd.isna(v) else int(bool(v)))
    out["completed"] = pd.array(completed.to_numpy(), dtype="Int64")
    return out.drop(columns="_unit")


def observe(source: Any, units: pd.DataFrame) -> pd.DataFrame:
    """``unit_outcomes`` of ``units`` from the canonical tables ``source`` (a ``Tables``, or a
    data folder read by ``read_tables`` on DuckDB): the units' events only, ``ts`` only,
    selected by the engine; ``as_of`` the newest event of the whole folder; run ends from the
    enrolments."""
    import ibis

    from mooc_risk.features.canonical.tables import Tables

    tables = source if isinstance(source, Tables) else read_canonical(Path(source))
    wanted = ibis.memtable(units[KEYS].astype(str).drop_duplicates().reset_index(drop=True))
    ev = tables.events
    as_of = ev.ts.max().to_pyarrow().as_py()
    events = ev.join(wanted, KEYS).select(*KEYS, "ts").to_pyarrow().to_pandas()
    runs = wanted.select("course_id", "run_id").distinct()
    en = tables.enrolments
    run_end = (en.join(runs, ["course_id", "run_id"]).group_by(["course_id", "run_id"])
               .agg(course_end=ibis._.course_end.max()).to_pyarrow().to_pandas())
    outcomes = None
    o = tables.outcomes
    if o is not None and "certified" in o.columns:
        outcomes = o.join(wanted, KEYS).select(*KEYS, "certified").to_pyarrow().to_pandas()
    return unit_outcomes(units, events, outcomes, as_of, run_end)


def read_canonical(data: Path, con: Any = None) -> Any:
    """The data folder's canonical tables (``read_tables``; its own instrument, DuckDB)."""
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.features.constructs import construct_map_for

    return read_tables(data, con if con is not None else connect(), construct_map_for(data))


# ------------------------------------------------------------------------------ randomised


@dataclass(frozen=True)
class Estimate:
    """One effect: ``effect`` (difference in proportions, treated minus untreated) with its 95%
    interval ``low`` .. ``high`` and ``p_value``; arm sizes (units whose outcome is observable)
    and rates, and ``n_excluded`` — the group's units left out because their outcome is not
    observable yet. Figures are None when an arm has fewer than ``MIN_GROUP`` units."""

    outcome: str
    group: str
    n_treated: int
    n_control: int
    rate_treated: float | None
    rate_control: float | None
    effect: float | None
    low: float | None
    high: float | None
    p_value: float | None = None
    n_excluded: int = 0

    @property
    def verdict(self) -> str:
        """'raises' / 'lowers' (interval above / below 0), 'no effect shown' (covers 0), or
        'too few learners'."""
        if self.low is None or self.high is None:
            return "too few learners"
        if self.low > 0:
            return "raises"
        if self.high < 0:
            return "lowers"
        return "no effect shown"

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "verdict": self.verdict}


def difference_in_proportions(y_treated: np.ndarray, y_control: np.ndarray, outcome: str = "",
                              group: str = "all") -> Estimate:
    """Treated minus control share of 1s, Newcombe's hybrid score interval (1 − ``ALPHA``)
    and the score test's p-value (statsmodels, ``method="score"``; see the module doc)."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    n1, n0 = len(y_treated), len(y_control)
    if n1 < MIN_GROUP or n0 < MIN_GROUP:
        return Estimate(outcome, group, n1, n0, None, None, None, None, None)
    c1, c0 = int(np.sum(y_treated)), int(np.sum(y_control))
    low, high = confint_proportions_2indep(c1, n1, c0, n0, method="newcomb", compare="diff",
                                           alpha=ALPHA)
    with np.errstate(all="ignore"):
        p = test_proportions_2indep(c1, n1, c0, n0, method="score", compare="diff").pvalue
    return Estimate(outcome, group, n1, n0, c1 / n1, c0 / n0, c1 / n1 - c0 / n0, float(low),
                    float(high), None if not math.isfinite(p) else float(p))


def observed(frame: pd.DataFrame, outcome: str) -> tuple[np.ndarray, np.ndarray]:
    """The outcome as floats (NaN where not observable) and the mask of observable units."""
    y = frame[outcome].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return y, ~np.isnan(y)


BY_SUGGESTED = "risk_band × suggested action"
GROUPINGS = {"all": [], "suggested action": ["suggested"], "risk_band": ["risk_band"],
             BY_SUGGESTED: ["risk_band", "suggested"]}


def randomised(units: pd.DataFrame) -> list[Estimate]:
    """Estimates of every outcome, overall and by ``GROUPINGS`` — only what was fixed before
    the draw, so every contrast stays randomised. ``units``: one row per listed learner with
    ``treated`` (1 assigned to the action, 0 held out), ``suggested`` (the suggested action),
    ``risk_band`` and the ``OUTCOMES`` (NA: not observable, left out of that estimate)."""
    out = []
    for name, by in GROUPINGS.items():
        groups = [("all", units)] if not by else units.groupby(by, sort=True)
        for key, frame in groups:
            label = "all" if not by else " / ".join(str(k) for k in np.atleast_1d(key))
            t = frame["treated"].to_numpy() == 1
            for outcome in OUTCOMES:
                y, seen = observed(frame, outcome)
                e = difference_in_proportions(y[t & seen], y[~t & seen], outcome,
                                              f"{name}: {label}" if by else "all")
                out.append(replace(e, n_excluded=int((~seen).sum())))
    return out


def actions_done(units: pd.DataFrame) -> list[dict[str, Any]]:
    """What the team did, apart from the randomised contrasts: units counted by ``suggested``,
    arm (held out or not) and ``done`` (the newest logged action, '(none logged)' without
    one) — a held-out learner acted on, or another action than the one suggested, shows here."""
    arm = np.where(units["treated"].to_numpy() == 1, "assigned", "held out")
    counts = (units.assign(arm=arm).groupby(["suggested", "arm", "done"], sort=True).size()
              .rename("n").reset_index())
    return [{k: (int(v) if k == "n" else str(v)) for k, v in row.items()}
            for row in counts.to_dict("records")]


# --------------------------------------------------------------------------- observational


CONFOUNDERS = ("risk_logit", "band_high", "events_before_7d_log", "events_before_log",
               "days_since_last_capped")


def confounders(units: pd.DataFrame) -> np.ndarray:
    """The pre-treatment confounders W, shape (n, len(``CONFOUNDERS``)): logit risk, high band,
    log1p of events in the 7 days before and of all events before, days since the last event
    (capped at 60)."""
    risk = units["risk"].astype(float).clip(1e-4, 1 - 1e-4)
    return np.column_stack([np.log(risk / (1 - risk)), (units["risk_band"] == "high").astype(float),
                            np.log1p(units["events_before_7d"]), np.log1p(units["events_before"]),
                            np.minimum(units["days_since_last"], 60.0)])


def overlap(T: np.ndarray, W: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Overlap diagnostics from 5-fold cross-validated propensities (logistic regression):
    per arm min / max propensity, the share of units outside [0.05, 0.95], the effective sample
    size of each arm under inverse-probability weights ((Σw)² / Σw²), and each confounder's
    standardized mean difference (difference of means over the pooled SD) before and after
    weighting (|SMD| < 0.1 is the usual rule of thumb for balance)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    e = cross_val_predict(LogisticRegression(max_iter=1000), W, T, cv=folds, method="predict_proba")[:, 1]
    e = np.clip(e, 1e-6, 1 - 1e-6)
    w = np.where(T == 1, 1 / e, 1 / (1 - e))
    out: dict[str, Any] = {"propensity": {}, "smd": {}}
    for arm, name in ((1, "treated"), (0, "untreated")):
        m = T == arm
        out["propensity"][name] = {"min": float(e[m].min()), "max": float(e[m].max()),
                                   "n": int(m.sum()),
                                   "effective_n": float(w[m].sum() ** 2 / (w[m] ** 2).sum())}
    out["share_outside_0.05_0.95"] = float(np.mean((e < 0.05) | (e > 0.95)))
    for j, name in enumerate(CONFOUNDERS):
        x = W[:, j]
        sd = math.sqrt((x[T == 1].var() + x[T == 0].var()) / 2) or 1.0
        before = (x[T == 1].mean() - x[T == 0].mean()) / sd
        after = (np.average(x[T == 1], weights=w[T == 1]) - np.average(x[T == 0], weights=w[T == 0])) / sd
        out["smd"][name] = {"before": float(before), "after": float(after)}
    return out


def doubly_robust(y: np.ndarray, T: np.ndarray, W: np.ndarray, outcome: str = "",
                  group: str = "all") -> Estimate:
    """The average treatment effect of T on the 0/1 outcome y, adjusting for W: EconML's
    ``LinearDRLearner`` (logistic nuisance models, 5-fold cross-fitting, propensities clipped
    at 0.01) with its analytic 95% interval. Figures None for an arm below ``MIN_GROUP`` or
    an outcome without both values in each arm."""
    n1, n0 = int((T == 1).sum()), int((T == 0).sum())
    if n1 < MIN_GROUP or n0 < MIN_GROUP or len(set(y[T == 1])) < 2 or len(set(y[T == 0])) < 2:
        return Estimate(outcome, group, n1, n0, None, None, None, None, None)
    import warnings

    from econml.dr import LinearDRLearner
    from sklearn.exceptions import DataConversionWarning
    from sklearn.linear_model import LogisticRegression

    est = LinearDRLearner(model_propensity=LogisticRegression(max_iter=1000),
                          model_regression=LogisticRegression(max_iter=1000),
                          discrete_outcome=True, min_propensity=0.01, cv=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConversionWarning)  # EconML passes y as a column
        est.fit(y, T, X=None, W=W)
    low, high = est.ate_interval(alpha=ALPHA)
    return Estimate(outcome, group, n1, n0, float(y[T == 1].mean()), float(y[T == 0].mean()),
                    float(np.ravel(est.ate())[0]), float(np.ravel(low)[0]), float(np.ravel(high)[0]))


def observational(units: pd.DataFrame) -> tuple[list[Estimate], dict[str, Any]]:
    """Doubly robust estimates of every outcome overall, by action (treated with that action vs
    all untreated) and by risk band, each on the units whose outcome is observable; and the
    overlap diagnostics of the whole set. ``units``: ``treated``, ``action`` (of the treated),
    ``risk``, ``risk_band``, pre-treatment activity (``unit_outcomes``) and the
    ``OUTCOMES``."""
    T = units["treated"].to_numpy().astype(int)
    W = confounders(units)
    groups: list[tuple[str, pd.DataFrame, list[int]]] = [("all", units, [0, 1, 2, 3, 4])]
    for band, frame in units.groupby("risk_band", sort=True):
        groups.append((f"risk_band: {band}", frame, [0, 2, 3, 4]))  # band is constant within one
    untreated = units[units["treated"] == 0]
    for action in sorted(units.loc[units["treated"] == 1, "action"].dropna().unique()):
        treated = units[(units["treated"] == 1) & (units["action"] == action)]
        groups.append((f"action: {action}", pd.concat([treated, untreated]), [0, 1, 2, 3, 4]))
    estimates = []
    for group, frame, columns in groups:
        for outcome in OUTCOMES:
            y, seen = observed(frame, outcome)
            part = frame[seen]
            e = doubly_robust(y[seen].astype(int), part["treated"].to_numpy().astype(int),
                              confounders(part)[:, columns], outcome, group)
            estimates.append(replace(e, n_excluded=int((~seen).sum())))
    return estimates, overlap(T, W)


# ------------------------------------------------------------------------------ assembling


_TRUE, _FALSE = {"true", "t", "yes", "y", "1"}, {"false", "f", "no", "n", "0"}


def as_bool(values: pd.Series, where: str) -> pd.Series:
    """A yes/no column as bool, from booleans or text (true/false, yes/no, 1/0, as a CSV gives
    them); InputError naming ``where`` for anything else or an empty value."""
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.astype(bool)
    text = values.astype("string").str.strip().str.lower()
    if bad := int((~text.isin(_TRUE | _FALSE) | text.isna()).sum()):
        raise InputError(f"{where}: {bad} value(s) that are not true/false")
    return text.isin(_TRUE).astype(bool)


def newest_action(interventions: pd.DataFrame) -> pd.DataFrame:
    """KEYS + ``done``: each learner's newest logged action (by ``recorded_at``)."""
    if not len(interventions):
        return pd.DataFrame(columns=[*KEYS, "done"])
    log = interventions.astype({k: str for k in KEYS})
    log = log.assign(_at=naive_utc(log["recorded_at"]).to_numpy())
    newest = log.sort_values("_at", kind="stable").drop_duplicates(KEYS, keep="last")
    return newest[[*KEYS, "action"]].rename(columns={"action": "done"})


def randomised_units(holdout: pd.DataFrame, interventions: pd.DataFrame) -> pd.DataFrame:
    """One unit per holdout draw: ``treated`` = 1 when assigned to the action (not held out),
    ``t0`` = ``assigned_at``, ``suggested`` = the action suggested before the draw ('(not
    recorded)' without one) — the only action grouping of the randomised contrasts — and
    ``done`` = the newest action the log has on the learner ('(none logged)'), for
    ``actions_done`` only. InputError without the holdout's columns."""
    need = {*KEYS, "held_out", "assigned_at"}
    if missing := need - set(holdout.columns):
        raise InputError(f"holdout: missing column(s) {', '.join(sorted(missing))}")
    units = holdout.drop(columns=["action", "done"], errors="ignore").astype({k: str for k in KEYS})
    units["treated"] = (~as_bool(units["held_out"], "holdout: column 'held_out'")).astype(int)
    units["t0"] = naive_utc(units["assigned_at"]).to_numpy()
    suggested = units["suggested"] if "suggested" in units else pd.Series(pd.NA, index=units.index)
    units["suggested"] = suggested.astype("object").where(suggested.notna(), "(not recorded)")
    units = units.merge(newest_action(interventions), on=KEYS, how="left")
    units["done"] = units["done"].astype("object").where(units["done"].notna(), "(none logged)")
    band = units["risk_band"] if "risk_band" in units else pd.Series(pd.NA, index=units.index)
    units["risk_band"] = band.astype("object").where(band.notna(), "(unknown)")
    return units


def observational_units(at_risk: pd.DataFrame, interventions: pd.DataFrame) -> pd.DataFrame:
    """One unit per listed learner (``at_risk``: KEYS, ``listed_at``, ``risk``, ``risk_band``):
    ``treated`` = 1 when the log has an intervention on them, ``action`` the first one; ``t0``
    = ``listed_at`` for every unit, treated or not, so the confounders (strictly before) and
    the outcome windows (from it) are measured at the same moment in both arms.
    InputError without the columns or with a risk that is not a number."""
    need = {*KEYS, "listed_at", "risk", "risk_band"}
    if missing := need - set(at_risk.columns):
        raise InputError(f"at-risk list: missing column(s) {', '.join(sorted(missing))}")
    columns = [*KEYS, "action", "recorded_at"]
    if len(interventions):
        log = interventions.astype({k: str for k in KEYS})
        log = log.assign(recorded_at=naive_utc(log["recorded_at"]).to_numpy())
        first = log.sort_values("recorded_at", kind="stable").drop_duplicates(KEYS)[columns]
    else:
        first = pd.DataFrame(columns=columns)
    units = at_risk.drop(columns=["action", "recorded_at"], errors="ignore").astype(
        {k: str for k in KEYS}).merge(first, on=KEYS, how="left")
    units["treated"] = units["recorded_at"].notna().astype(int)
    units["t0"] = naive_utc(units["listed_at"]).to_numpy()
    units["risk"] = pd.to_numeric(units["risk"], errors="coerce")
    if bad := int(units["risk"].isna().sum()):
        raise InputError(f"at-risk list: column 'risk' has {bad} empty or non-numeric value(s)")
    return units


def uplift(estimates: list[Estimate], outcome: str) -> list[dict[str, Any]]:
    """The uplift view: band × suggested-action cells (or, observationally, bands and actions)
    of one outcome, largest estimated effect first, for revising the intervention table."""
    cells = any(x.group.startswith(BY_SUGGESTED) for x in estimates)
    rows = [e.to_dict() for e in estimates if e.outcome == outcome and e.group != "all"
            and (e.group.startswith(BY_SUGGESTED) or not cells)]
    return sorted(rows, key=lambda r: -np.inf if r["effect"] is None else -r["effect"])


# --------------------------------------------------------------------------------- the report


EXTRA = {"interventions": "the intervention log", "holdout": "the holdout",
         "at_risk": "the at-risk list"}


def read_extra(con: Any, path: Path) -> pd.DataFrame:
    """An extra table (the log, the holdout, the at-risk list): a .parquet or .csv file or a
    folder of Parquet files (``features.canonical.engine.read_file``), as pandas. InputError
    when it cannot be read (the error's type only: its text could quote values)."""
    from mooc_risk.features.canonical.engine import read_file

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        return read_file(con, path).to_pyarrow().to_pandas()
    except Exception as exc:  # noqa: BLE001 - each engine raises its own types for bad files
        raise InputError(f"{path}: cannot read ({type(exc).__name__}); expected a .parquet or "
                         ".csv file or a folder of .parquet files") from None


def analyse(data: Path, course: str | None = None, interventions: Path | None = None,
            journal: Any = None) -> dict[str, Any]:
    """The impact report of the data folder ``data`` (its canonical tables, read and validated
    by ``read_tables``; the synthetic ``interventions``, ``holdout``, ``at_risk`` tables when
    there) as a JSON-ready dict: ``design`` ('randomised' or 'observational'), ``estimates``
    (``Estimate.to_dict``), ``uplift`` per outcome, ``units`` (with the units whose outcome is
    observable, per outcome, and ``as_of``, the newest event), for the randomised design
    ``actions_done``, and for the observational design ``warning``, ``assumptions`` and
    ``overlap``. The log comes from ``interventions`` (a .parquet / .csv file or Parquet
    folder), else the data folder's, else ``journal`` (a ``Journal``; needs ``course``), which
    also gives the holdout. InputError for missing tables or columns, no interventions, or no
    comparison group."""
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import find_table

    data = Path(data)
    con = connect()
    tables = read_canonical(data, con)  # InputError: no such folder, missing or bad tables
    extra = {name: find_table(data, name) for name in EXTRA}
    log_path = Path(interventions) if interventions is not None else extra["interventions"]
    if log_path is not None:
        log = read_extra(con, log_path)
    elif journal is not None and course is not None:
        log = journal.interventions_frame(course)
    else:
        raise InputError("no interventions: give --interventions FILE, a data folder with "
                         "interventions.parquet, or --course C to read the journal")
    if missing := {*KEYS, "action", "recorded_at"} - set(log.columns):
        raise InputError(f"interventions: missing column(s) {', '.join(sorted(missing))}")
    holdout = read_extra(con, extra["holdout"]) if extra["holdout"] is not None else pd.DataFrame()
    if holdout.empty and journal is not None and course is not None:
        holdout = journal.holdout_frame(course).rename(columns={"recorded_at": "assigned_at"})
    at_risk = read_extra(con, extra["at_risk"]) if extra["at_risk"] is not None else pd.DataFrame()
    if course is not None:
        log, holdout, at_risk = (f[f["course_id"].astype(str) == course] if len(f) else f
                                 for f in (log, holdout, at_risk))
    report: dict[str, Any] = {"data": str(data), "course": course, "outcomes": list(OUTCOMES),
                              "interventions": len(log), "alpha": ALPHA}
    if len(holdout):
        units = randomised_units(holdout, log)
        if units["treated"].nunique() < 2:
            raise InputError("the holdout has only one arm: nobody held out, or nobody acted on")
        units = observe(tables, units)
        estimates = randomised(units)
        report.update(design="randomised", actions_done=actions_done(units), method=(
            "difference in proportions, assigned to the action minus held out (intention to "
            "treat), by suggested action and risk band; Newcombe's hybrid score 95% interval, "
            "score-test p-value (statsmodels)"))
    elif len(at_risk):
        units = observational_units(at_risk, log)
        if units["treated"].nunique() < 2:
            raise InputError("no comparison group: every listed learner was acted on, or none was")
        units = observe(tables, units)
        estimates, overlap_ = observational(units)
        report.update(design="observational", warning=OBSERVATIONAL_WARNING,
                      assumptions=list(ASSUMPTIONS), overlap=overlap_, confounders=list(CONFOUNDERS),
                      method="EconML LinearDRLearner (doubly robust, logistic nuisance models, "
                             "5-fold cross-fitting), analytic 95% interval; time zero the "
                             "listing, for both arms")
    else:
        raise InputError("no comparison group: no holdout (serving.holdout) and no at-risk list "
                         "(at_risk.parquet) to compare the treated learners with")
    as_of = tables.events.ts.max().to_pyarrow().as_py()
    report["units"] = {"n": len(units), "treated": int(units["treated"].sum()),
                       "untreated": int((units["treated"] == 0).sum()),
                       "as_of": None if as_of is None else as_of.isoformat(),
                       "observable": {o: int(units[o].notna().sum()) for o in OUTCOMES}}
    report["estimates"] = [e.to_dict() for e in estimates]
    report["uplift"] = {outcome: uplift(estimates, outcome) for outcome in OUTCOMES}
    return report


def _plot(report: dict[str, Any], path: Path) -> None:
    """Effects with their intervals, one panel per outcome (matplotlib, PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(OUTCOMES), figsize=(5 * len(OUTCOMES), 4), sharey=True)
    for ax, outcome in zip(axes, OUTCOMES, strict=True):
        rows = [e for e in report["estimates"] if e["outcome"] == outcome and e["effect"] is not None]
        labels = [e["group"] for e in rows]
        y = np.arange(len(rows))
        effects = np.array([e["effect"] for e in rows])
        err = np.array([[e["effect"] - e["low"] for e in rows], [e["high"] - e["effect"] for e in rows]])
        ax.errorbar(effects, y, xerr=err if len(rows) else None, fmt="o", capsize=3)
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_title(outcome)
        ax.set_xlabel("effect (probability points)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: dict[str, Any], out: Path) -> Path:
    """``out``/impact.json, effects.png and index.html (plain HTML, no scripts), written as a
    whole folder or not at all (``mooc_risk.files.folder_replacing``)."""
    import html
    import json

    from mooc_risk.files import folder_replacing

    def cell(value: Any) -> str:
        if value is None:
            return "–"
        return f"{value:+.3f}" if isinstance(value, float) else html.escape(str(value))

    with folder_replacing(out) as stage:
        (stage / "impact.json").write_text(json.dumps(report, indent=2, default=str))
        _plot(report, stage / "effects.png")
        parts = ["<!doctype html><meta charset='utf-8'><title>Impact of interventions</title>",
                 "<h1>Do the interventions help?</h1>",
                 f"<p>Design: <b>{report['design']}</b> — {html.escape(report['method'])}. "
                 f"{report['units']['treated']} learners acted on, {report['units']['untreated']} "
                 "not.</p>",
                 f"<p>Data up to {html.escape(str(report['units']['as_of']))}. Outcomes observable "
                 "so far (a window not over yet, a run not ended or an unknown outcome is left "
                 "out): " + ", ".join(f"{html.escape(o)} {n}" for o, n in
                                      report["units"]["observable"].items()) + ".</p>"]
        if report["design"] == "randomised":
            parts.append("<h2>What was done</h2><p>Counts only, not an estimate: the contrasts "
                         "are by the action suggested before the draw.</p><table border=1><tr>"
                         "<th>suggested<th>arm<th>done (newest logged)<th>n</tr>" + "".join(
                             "<tr>" + "".join(f"<td>{cell(r[c])}" for c in ("suggested", "arm", "done", "n"))
                             + "</tr>" for r in report["actions_done"]) + "</table>")
        if report["design"] == "observational":
            parts.append(f"<p><b>Warning:</b> {html.escape(report['warning'])}</p><h2>Assumptions</h2><ul>"
                         + "".join(f"<li>{html.escape(a)}</li>" for a in report["assumptions"]) + "</ul>")
            ov = report["overlap"]
            parts.append("<h2>Overlap</h2><p>Share of propensities outside [0.05, 0.95]: "
                         f"{ov['share_outside_0.05_0.95']:.3f}</p><table border=1><tr><th>arm<th>min"
                         "<th>max<th>n<th>effective n</tr>" + "".join(
                             f"<tr><td>{arm}<td>{v['min']:.3f}<td>{v['max']:.3f}<td>{v['n']}"
                             f"<td>{v['effective_n']:.0f}</tr>" for arm, v in ov["propensity"].items())
                         + "</table><table border=1><tr><th>confounder<th>SMD before<th>SMD after</tr>"
                         + "".join(f"<tr><td>{k}<td>{v['before']:+.3f}<td>{v['after']:+.3f}</tr>"
                                   for k, v in ov["smd"].items()) + "</table>")
        parts.append("<h2>Effects (treated minus untreated, 95% interval)</h2>"
                     "<img src='effects.png' alt='effects with 95% intervals'>")
        columns = ["outcome", "group", "n_treated", "n_control", "rate_treated", "rate_control",
                   "n_excluded", "effect", "low", "high", "verdict"]
        parts.append("<h2>Uplift: which bands and actions respond</h2>")
        for outcome, rows in report["uplift"].items():
            parts.append(f"<h3>{outcome}</h3><table border=1><tr>"
                         + "".join(f"<th>{c}" for c in columns) + "</tr>"
                         + "".join("<tr>" + "".join(f"<td>{cell(r[c])}" for c in columns) + "</tr>"
                                   for r in rows) + "</table>")
        (stage / "index.html").write_text("\n".join(parts) + "\n")
    return out
