"""Do the interventions help? Effects of course teams' actions on re-engagement and completion
(issue 15), from the intervention log and the data folder's events and outcomes.

Units and outcomes. A unit is one listed (at-risk) learner of a run with a time zero ``t0``
(naive UTC): the holdout draw's ``assigned_at`` (randomised) or the listing / intervention time
(observational). Outcomes, each 0/1: ``reengaged_7d`` / ``reengaged_14d`` — any event with
``t0 < ts <= t0 + 7 (14) days``; ``completed`` — ``certified`` in ``outcomes``. Effects are
differences in proportions (treated minus untreated), in probability points (0.1 = +10 points).

- **randomised** (``randomised``): where a holdout exists (``serving.holdout``; the synthetic
  ``holdout.parquet``): learners assigned to the action vs held out, among the same listed
  learners — an intention-to-treat contrast. 95% interval: Newcombe's hybrid score interval for
  a difference of independent proportions (Newcombe 1998, "Interval estimation for the
  difference between independent proportions", method 10), ``statsmodels``'
  ``confint_proportions_2indep(method="newcomb", compare="diff")``; p-value from
  ``test_proportions_2indep`` (score test). Overall, by action, by risk band, by band × action.
- **observational** (``observational``): no holdout; treated vs untreated listed learners,
  adjusted for pre-treatment confounders (risk, band, activity before ``t0``) with EconML's
  doubly robust learner. Why EconML: DoWhy 0.13/0.14 cap scipy ≤ 1.15.3, below our pin, and
  0.12 breaks on networkx 3.6 and pandas 3; CausalML pulls about 800 MB (CUDA NCCL included);
  EconML 0.17 installs clean and ``LinearDRLearner`` is doubly robust with an analytic
  interval in about a second. Assumptions and overlap diagnostics go with every estimate
  (``ASSUMPTIONS``, ``overlap``), and the plain ``OBSERVATIONAL_WARNING``.

Errors: ``InputError`` (exit 2 in the command) for missing columns, an empty log, or units
with no comparison group; estimates themselves never raise — a group too small to estimate
gives ``None`` figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
    "No unmeasured confounding: given risk, risk band and activity before the intervention, "
    "who was acted on is unrelated to the outcomes they would have had.",
    "Positivity / overlap: every kind of learner had a real chance of being acted on and of "
    "not being acted on (see the overlap diagnostics).",
    "Consistency / SUTVA: one learner's outcome depends only on their own treatment, and the "
    "action is the same action whoever did it.",
    "Double robustness: at least one of the two nuisance models (propensity: logistic "
    "regression of treatment on the confounders; outcome: logistic regression of the outcome "
    "on treatment and confounders) is correctly specified.",
)


# ------------------------------------------------------------------------------- outcomes


def unit_outcomes(units: pd.DataFrame, events: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """``units`` (KEYS + ``t0``) with ``reengaged_7d``, ``reengaged_14d``, ``completed`` (int
    0/1) and the pre-treatment activity ``events_before_7d`` (events in the 7 days before
    ``t0``), ``events_before`` (all before) and ``days_since_last`` (days from the last event
    before ``t0``, 999 when none). ``events``: KEYS + ``ts``; ``outcomes``: KEYS +
    ``certified`` (a unit without an outcome row counts as not completed)."""
    out = units.reset_index(drop=True).copy()
    out["t0"] = pd.to_datetime(out["t0"])
    out["_unit"] = np.arange(len(out))
    ev = events[[*KEYS, "ts"]].copy()
    for key in KEYS:
        ev[key] = ev[key].astype(str)
    left = out[[*KEYS, "t0", "_unit"]].astype({k: str for k in KEYS})
    joined = left.merge(ev, on=KEYS, how="inner")
    delta = (pd.to_datetime(joined["ts"]) - joined["t0"]).dt.total_seconds() / 86400
    n = len(out)

    def count(mask: pd.Series) -> np.ndarray:
        return np.bincount(joined["_unit"][mask].to_numpy(), minlength=n)

    out["reengaged_7d"] = (count((delta > 0) & (delta <= 7)) > 0).astype(int)
    out["reengaged_14d"] = (count((delta > 0) & (delta <= 14)) > 0).astype(int)
    out["events_before_7d"] = count((delta <= 0) & (delta > -7))
    out["events_before"] = count(delta <= 0)
    last = pd.Series(np.where(delta <= 0, -delta, np.inf)).groupby(joined["_unit"].to_numpy()).min()
    out["days_since_last"] = np.minimum(last.reindex(range(n)).fillna(np.inf).to_numpy(), 999.0)
    cert = outcomes[[*KEYS, "certified"]].astype({k: str for k in KEYS})
    merged = left[KEYS].merge(cert.drop_duplicates(KEYS), on=KEYS, how="left")
    out["completed"] = merged["certified"].fillna(False).astype(bool).astype(int).to_numpy()
    return out.drop(columns="_unit")


# ------------------------------------------------------------------------------ randomised


@dataclass(frozen=True)
class Estimate:
    """One effect: ``effect`` (difference in proportions, treated minus untreated) with its 95%
    interval ``low`` .. ``high`` and ``p_value``; arm sizes and rates. Figures are None when an
    arm has fewer than ``MIN_GROUP`` units."""

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
    and the score test's p-value (statsmodels; see the module doc)."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    n1, n0 = len(y_treated), len(y_control)
    if n1 < MIN_GROUP or n0 < MIN_GROUP:
        return Estimate(outcome, group, n1, n0, None, None, None, None, None)
    c1, c0 = int(np.sum(y_treated)), int(np.sum(y_control))
    low, high = confint_proportions_2indep(c1, n1, c0, n0, method="newcomb", compare="diff",
                                           alpha=ALPHA)
    with np.errstate(all="ignore"):
        p = test_proportions_2indep(c1, n1, c0, n0, compare="diff").pvalue
    return Estimate(outcome, group, n1, n0, c1 / n1, c0 / n0, c1 / n1 - c0 / n0, float(low),
                    float(high), None if not math.isfinite(p) else float(p))


GROUPINGS = {"all": [], "action": ["action"], "risk_band": ["risk_band"],
             "risk_band × action": ["risk_band", "action"]}


def randomised(units: pd.DataFrame) -> list[Estimate]:
    """Estimates of every outcome, overall and by ``GROUPINGS``. ``units``: one row per listed
    learner with ``treated`` (1 assigned to the action, 0 held out), ``action`` (suggested),
    ``risk_band`` and the ``OUTCOMES``."""
    out = []
    for name, by in GROUPINGS.items():
        groups = [("all", units)] if not by else units.groupby(by, sort=True)
        for key, frame in groups:
            label = "all" if not by else " / ".join(str(k) for k in np.atleast_1d(key))
            t = frame["treated"].to_numpy() == 1
            for outcome in OUTCOMES:
                y = frame[outcome].to_numpy()
                out.append(difference_in_proportions(y[t], y[~t], outcome, f"{name}: {label}"
                                                     if by else "all"))
    return out


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
    all untreated) and by risk band; and the overlap diagnostics of the whole set. ``units``:
    ``treated``, ``action`` (of the treated), ``risk``, ``risk_band``, pre-treatment activity
    (``unit_outcomes``) and the ``OUTCOMES``."""
    T = units["treated"].to_numpy().astype(int)
    W = confounders(units)
    groups: list[tuple[str, pd.DataFrame, list[int]]] = [("all", units, [0, 1, 2, 3, 4])]
    for band, frame in units.groupby("risk_band", sort=True):
        groups.append((f"risk_band: {band}", frame, [0, 2, 3, 4]))  # band is constant within one
    untreated = units[units["treated"] == 0]
    for action in sorted(units.loc[units["treated"] == 1, "action"].dropna().unique()):
        treated = units[(units["treated"] == 1) & (units["action"] == action)]
        groups.append((f"action: {action}", pd.concat([treated, untreated]), [0, 1, 2, 3, 4]))
    estimates = [doubly_robust(frame[outcome].to_numpy(), frame["treated"].to_numpy().astype(int),
                               confounders(frame)[:, columns], outcome, group)
                 for group, frame, columns in groups for outcome in OUTCOMES]
    return estimates, overlap(T, W)


# ------------------------------------------------------------------------------ assembling


def randomised_units(holdout: pd.DataFrame, interventions: pd.DataFrame) -> pd.DataFrame:
    """One unit per holdout draw: ``treated`` = 1 when assigned to the action (not held out),
    ``t0`` = ``assigned_at``, ``action`` = the suggested action (the one withheld, for the held
    out; else the one done, when the log has it). InputError without the holdout's columns."""
    need = {*KEYS, "held_out", "assigned_at"}
    if missing := need - set(holdout.columns):
        raise InputError(f"holdout: missing column(s) {', '.join(sorted(missing))}")
    units = holdout.copy()
    units["treated"] = (~units["held_out"].astype(bool)).astype(int)
    units["t0"] = pd.to_datetime(units["assigned_at"])
    done = interventions.drop_duplicates(KEYS)[[*KEYS, "action"]] if len(interventions) else None
    if "suggested" in units:
        units["action"] = units["suggested"]
    if done is not None:
        units = units.drop(columns=["action"], errors="ignore").merge(
            done.rename(columns={"action": "_done"}), on=KEYS, how="left")
        units["action"] = units["_done"].fillna(units.get("suggested", units["_done"]))
        units = units.drop(columns="_done")
    units["action"] = units["action"].fillna("(not recorded)")
    units["risk_band"] = units.get("risk_band", pd.Series("(unknown)", index=units.index)).fillna("(unknown)")
    return units


def observational_units(at_risk: pd.DataFrame, interventions: pd.DataFrame) -> pd.DataFrame:
    """One unit per listed learner (``at_risk``: KEYS, ``listed_at``, ``risk``, ``risk_band``):
    ``treated`` = 1 when the log has an intervention on them; ``t0`` = the first intervention's
    ``recorded_at`` for the treated, ``listed_at`` otherwise. InputError without ``risk``."""
    need = {*KEYS, "listed_at", "risk", "risk_band"}
    if missing := need - set(at_risk.columns):
        raise InputError(f"at-risk list: missing column(s) {', '.join(sorted(missing))}")
    first = (interventions.sort_values("recorded_at").drop_duplicates(KEYS)[[*KEYS, "action", "recorded_at"]]
             if len(interventions) else pd.DataFrame(columns=[*KEYS, "action", "recorded_at"]))
    units = at_risk.drop(columns=["action"], errors="ignore").merge(first, on=KEYS, how="left")
    units["treated"] = units["recorded_at"].notna().astype(int)
    units["t0"] = pd.to_datetime(units["recorded_at"]).fillna(pd.to_datetime(units["listed_at"]))
    return units


def uplift(estimates: list[Estimate], outcome: str) -> list[dict[str, Any]]:
    """The uplift view: band × action cells (or, observationally, bands and actions) of one
    outcome, largest estimated effect first, for revising the intervention table."""
    rows = [e.to_dict() for e in estimates if e.outcome == outcome and e.group != "all"
            and (e.group.startswith("risk_band × action") or not any(
                x.group.startswith("risk_band × action") for x in estimates))]
    return sorted(rows, key=lambda r: -np.inf if r["effect"] is None else -r["effect"])


# --------------------------------------------------------------------------------- the report


def _read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
        return frame if columns is None else frame[columns]
    return pd.read_parquet(path, columns=columns)


def _table(data: Path, name: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        if (data / f"{name}{suffix}").exists():
            return data / f"{name}{suffix}"
    return None


def analyse(data: Path, course: str | None = None, interventions: Path | None = None,
            journal: Any = None) -> dict[str, Any]:
    """The impact report of the data folder ``data`` (events, outcomes; the synthetic
    ``interventions``, ``holdout``, ``at_risk`` tables when there) as a JSON-ready dict:
    ``design`` ('randomised' or 'observational'), ``estimates`` (``Estimate.to_dict``),
    ``uplift`` per outcome, and for the observational design ``warning``, ``assumptions`` and
    ``overlap``. The log comes from ``interventions`` (a .parquet / .csv file), else the data
    folder's, else ``journal`` (a ``Journal``; needs ``course``), which also gives the holdout.
    InputError for missing tables or columns, no interventions, or no comparison group."""
    data = Path(data)
    if not data.is_dir():
        raise InputError(f"{data}: no such data folder")
    need = {"events": [*KEYS, "ts"], "outcomes": [*KEYS, "certified"]}
    frames = {}
    for name, columns in need.items():
        path = _table(data, name)
        if path is None:
            raise InputError(f"{data}: no {name}.parquet or {name}.csv")
        try:
            frames[name] = _read(path, columns)
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path}: needs columns {', '.join(columns)} ({exc})") from None
    log_path = interventions or _table(data, "interventions")
    holdout_path, at_risk_path = _table(data, "holdout"), _table(data, "at_risk")
    if log_path is not None:
        if not Path(log_path).exists():
            raise InputError(f"{log_path}: no such file")
        log = _read(Path(log_path))
    elif journal is not None and course is not None:
        log = journal.interventions_frame(course)
    else:
        raise InputError("no interventions: give --interventions FILE, a data folder with "
                         "interventions.parquet, or --course C to read the journal")
    if missing := {*KEYS, "action", "recorded_at"} - set(log.columns):
        raise InputError(f"interventions: missing column(s) {', '.join(sorted(missing))}")
    holdout = _read(holdout_path) if holdout_path is not None else pd.DataFrame()
    if holdout.empty and journal is not None and course is not None:
        holdout = journal.holdout_frame(course).rename(columns={"recorded_at": "assigned_at"})
    at_risk = _read(at_risk_path) if at_risk_path is not None else pd.DataFrame()
    if course is not None:
        log, holdout, at_risk = (f[f["course_id"].astype(str) == course] if len(f) else f
                                 for f in (log, holdout, at_risk))
    report: dict[str, Any] = {"data": str(data), "course": course, "outcomes": list(OUTCOMES),
                              "interventions": len(log), "alpha": ALPHA}
    if len(holdout):
        units = unit_outcomes(randomised_units(holdout, log), frames["events"], frames["outcomes"])
        if units["treated"].nunique() < 2:
            raise InputError("the holdout has only one arm: nobody held out, or nobody acted on")
        estimates = randomised(units)
        report.update(design="randomised", method=(
            "difference in proportions, assigned to the action minus held out (intention to "
            "treat), Newcombe's hybrid score 95% interval (statsmodels)"))
    elif len(at_risk):
        units = unit_outcomes(observational_units(at_risk, log), frames["events"], frames["outcomes"])
        if units["treated"].nunique() < 2:
            raise InputError("no comparison group: every listed learner was acted on, or none was")
        estimates, overlap_ = observational(units)
        report.update(design="observational", warning=OBSERVATIONAL_WARNING,
                      assumptions=list(ASSUMPTIONS), overlap=overlap_, confounders=list(CONFOUNDERS),
                      method="EconML LinearDRLearner (doubly robust, logistic nuisance models, "
                             "5-fold cross-fitting), analytic 95% interval")
    else:
        raise InputError("no comparison group: no holdout (serving.holdout) and no at-risk list "
                         "(at_risk.parquet) to compare the treated learners with")
    report["units"] = {"n": len(units), "treated": int(units["treated"].sum()),
                       "untreated": int((units["treated"] == 0).sum())}
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
                 "not.</p>"]
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
                   "effect", "low", "high", "verdict"]
        parts.append("<h2>Uplift: which bands and actions respond</h2>")
        for outcome, rows in report["uplift"].items():
            parts.append(f"<h3>{outcome}</h3><table border=1><tr>"
                         + "".join(f"<th>{c}" for c in columns) + "</tr>"
                         + "".join("<tr>" + "".join(f"<td>{cell(r[c])}" for c in columns) + "</tr>"
                                   for r in rows) + "</table>")
        (stage / "index.html").write_text("\n".join(parts) + "\n")
    return out
