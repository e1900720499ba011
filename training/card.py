"""The model card: a markdown page per registered version (data, split, metrics by day and
group, calibration, the horizon decision, known limits)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from mooc_risk.models.contributions import pipelines
from mooc_risk.training.gate import GateDecision
from mooc_risk.training.markdown import markdown_table
from mooc_risk.training.train import Trained

LIMITS = """\
- Populations: at as-of day *d* the model is trained and evaluated on every enrolment enrolled
  by *d* and not unenrolled before *d* — the same rule serving uses; going quiet removes
  nobody, so learners inactive for weeks are in the population (and easy to rank: the
  by-day table also shows the AUC among those active in the 14 days before *d*).
- Calibration is fitted on the validation learners of the training runs; a new course, platform
  or credential policy can shift base rates — watch the calibration plot of the next run.
- Group metrics cover the audited columns present in the data (gender, age band, education
  level, disability and the configured sensitive attributes); groups under 30 test rows are
  not reported.
- Features only use data before each as-of day, but the event-type vocabulary is chosen from the
  whole training data set.
"""


def calibration_choice(trained: Trained) -> str:
    """Which calibration the model uses, each method's figures on the validation rows, and why."""
    c, compared = trained.config, trained.calibration
    if compared is None or compared.empty:
        return f"Method: {c.calibration}."
    pooled = compared.groupby("method")[["ece", "brier", "distinct_share"]].mean()
    pooled["exact_0_or_1"] = compared.groupby("method")["exact_0_or_1"].sum()
    why = {"sigmoid": "a strictly increasing map of the model's score, it keeps the model's order: "
                      "learners share a probability only when the model gives them the same score "
                      "(or within 1e-6 of 0 or 1, where served probabilities are clipped), so a "
                      "ranked list has no ties the model did not make",
           "isotonic": "chosen in the config; its steps tie learners with different scores and "
                       "can reach exactly 0 or 1, so ranked lists break ties by the raw score"}
    return (f"Method: **{c.calibration}** — {why[c.calibration]}. The served probability is "
            "then the Venn-Abers point estimate of the row's as-of day on this calibrated score "
            "(see Confidence): it keeps the order but, a step function, ties learners within a "
            "step; ranked lists keep the model's order there (by the raw score). Each method on "
            "the validation "
            "learners of the training runs (5-fold, out of fold; mean over the as-of day models):"
            "\n\n" + markdown_table(pooled.reset_index(), 4))


def band_shares(trained: Trained) -> str:
    """The share of test rows in each risk band, by as-of day (bands from the config)."""
    t = trained.config.thresholds
    p = trained.test_scores["lightgbm"]
    band = t.band(p if trained.config.risk_of == "label" else 1 - p)
    shares = (pd.crosstab(trained.test["as_of_day"].to_numpy(), band, normalize="index")
              .reindex(columns=["low", "medium", "high"], fill_value=0.0))
    shares.index.name = "as_of_day"
    return (f"medium ≥ {t.medium}, high ≥ {t.high} (config `thresholds`); share of the test rows "
            "in each band:\n\n" + markdown_table(shares.reset_index(), 3))


BASELINE_TOLERANCE = 0.005  # AUC: the gate's auc_tolerance default, "as good" within it


def baseline_comparison(trained: Trained, tolerance: float = BASELINE_TOLERANCE) -> str:
    """Per as-of day, LightGBM vs the logistic baseline on the test runs (AUC, ECE), and a
    sentence for each day where the baseline's AUC is within ``tolerance`` of LightGBM's (or
    above it): serving the baseline there would be a valid, simpler choice."""
    by_day = trained.assessment.by_day.pivot(index="as_of_day", columns="model", values=["auc", "ece"])
    table = pd.DataFrame({"as_of_day": by_day.index,
                          "LightGBM AUC": by_day[("auc", "lightgbm")].to_numpy(),
                          "baseline AUC": by_day[("auc", "baseline")].to_numpy(),
                          "LightGBM ECE": by_day[("ece", "lightgbm")].to_numpy(),
                          "baseline ECE": by_day[("ece", "baseline")].to_numpy()})
    table["AUC difference"] = table["LightGBM AUC"] - table["baseline AUC"]
    as_good = table[table["AUC difference"] <= tolerance]
    sentences = "".join(
        f"- The logistic baseline is as good at day {int(row['as_of_day'])} (AUC "
        f"{row['baseline AUC']:.4f} vs {row['LightGBM AUC']:.4f}): serving it would be a valid, "
        "simpler choice.\n" for _, row in as_good.iterrows())
    verdict = sentences or (f"- LightGBM is ahead by more than {tolerance} AUC at every as-of day.\n")
    return (markdown_table(table, 4) + f"\n\"As good\": a baseline AUC within {tolerance} of "
            "LightGBM's (the gate's default AUC tolerance) or above it.\n\n" + verdict)


def confidence_summary(trained: Trained) -> str:
    """Coverage of the 90% conformal sets and the Venn-Abers interval width by as-of day."""
    by_day = trained.assessment.by_day
    if "coverage_90" not in by_day:
        return "Not measured.\n"
    table = by_day[by_day["model"] == "lightgbm"][["as_of_day", "coverage_90", "set_size_90",
                                                    "interval_width"]]
    return ("The served probability is the Venn-Abers point estimate of the row's as-of day "
            "(one calibrator per trained day, on the validation learners; why: "
            "`models/confidence.py`); each prediction carries its Venn-Abers interval "
            "(`risk_low`, `risk_high`). On the test runs: `coverage_90`, the share of rows "
            "whose outcome is in their 90% class-conditional conformal set (Mondrian by day "
            "and outcome; nominal 0.90, the goal within 3 points); `set_size_90`, labels per "
            "set (1: a confident answer); `interval_width`, the mean width of the interval.\n\n"
            + markdown_table(table.reset_index(drop=True), 4))


def sensitive_policy(config) -> str:
    """The model card's statement of how sensitive attributes were used."""
    names = ", ".join(f"`{a}`" for a in config.sensitive_attributes) or "none"
    use = ("**are model features** (`sensitive_as_features: true`)" if config.sensitive_as_features
           else "are **not** model features")
    return (f"Sensitive attributes ({names}) {use}; they are audited below and are never shown "
            "as reasons or used to choose an intervention.")


def horizon_decision(horizons: pd.DataFrame | None, chosen: str) -> str:
    """The comparison table and the numbers behind the configured choice."""
    if horizons is None or horizons.empty:
        return f"Strategy `{chosen}`; no comparison was run.\n"
    auc = (horizons["per_day_auc"] - horizons["single_auc"]).mean()
    ece = (horizons["per_day_ece"] - horizons["single_ece"]).mean()
    worst = {n: horizons[f"{n}_ece"].max() for n in ("single", "per_day")}
    text = (f"One model per day vs one model for all days, on the test runs: mean AUC "
            f"difference {auc:+.4f}, mean ECE difference {ece:+.4f}; worst per-day ECE "
            f"{worst['per_day']:.4f} (per day) vs {worst['single']:.4f} (single). "
            f"This version serves **{chosen.replace('_', ' ')}**")
    text += (" — the config's choice; the numbers above are the evidence to revisit it."
             if (chosen == "per_day" and auc < 0) or (chosen == "single" and auc > 0.005)
             else " — consistent with these numbers.")
    return markdown_table(horizons, 4) + "\n" + text + "\n"


def render_card(trained: Trained, version: str, run_id: str, alias: str,
                decision: GateDecision, source: str) -> str:
    c, ev, split, frame = trained.config, trained.assessment, trained.split, trained.rows.frame
    trees = ", ".join(f"{'all days' if d is None else f'day {d}'}: {p['model'].best_iteration_}"
                      for d, p in pipelines(trained.model).items())
    overall = pd.DataFrame([
        {"model": name, **{m: ev.metrics.get(f"{prefix}_{m}", np.nan)
                           for m in ("auc", "pr_auc", "brier", "ece", "precision_top10",
                                     "recall_top10")}}
        for name, prefix in (("LightGBM (calibrated)", "test"), ("logistic baseline", "baseline_test"))
    ])
    by_day = ev.by_day.pivot(index="as_of_day", columns="model", values=["auc", "auc_active_14d", "ece"])
    by_day.columns = [f"{m} {metric}" for metric, m in by_day.columns]
    counts = frame.assign(split=np.select([split.train, split.valid, split.test],
                                          ["train", "valid", "test"], "unused"))
    counts["split"] = counts["split"].replace({"unused": "excluded (learner also in test)"})
    sizes = counts.groupby("split").agg(rows=("label", "size"), learners=("learner_id", "nunique"),
                                        positive_rate=("label", "mean")).reset_index()
    skipped = "".join(f"\n- **Skipped as-of day {d}**: {why}" for d, why in trained.skipped_days.items())
    return f"""# {c.registered_name} v{version}

- **Target**: {c.target} (label `{c.label}`; risk = {"P(label)" if c.risk_of == "label" else "1 − P(label)"})
- **Trained**: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, MLflow run `{run_id}`
- **Alias**: `@{alias}` — gate: {decision.reason}
- **Data**: `{source}` (training-table sha256 `{trained.data_hash[:16]}…`)
- **As-of days**: {", ".join(map(str, c.as_of_days))}; risk bands: medium ≥ {c.thresholds.medium},
  high ≥ {c.thresholds.high}{skipped}

## Split
{split.strategy}: {split.note}. No learner is on both sides; validation rows (early stopping and
calibration) are learners of the training runs.

{markdown_table(sizes)}
## Model
LightGBM in an sklearn pipeline (ordinal encoding of {len(trained.rows.categorical_columns)}
categorical columns inside), early stopping on validation log-loss (trees — {trees}),
{c.calibration} calibration; {len(trained.rows.feature_columns)} features. Baseline: logistic
regression on the same columns (median imputation with missing flags, one-hot).

### One model or one per as-of day?
{horizon_decision(trained.horizons, c.horizon_strategy)}
## Test metrics (later runs)
{markdown_table(overall)}
Top 10%: precision and recall among the 10% of learners with the highest risk (an
intervention capacity of one in ten).

### By as-of day
{markdown_table(by_day.reset_index())}
### LightGBM or the logistic baseline?
{baseline_comparison(trained)}
## Calibration
{calibration_choice(trained)}

On the test runs: ECE {ev.metrics["test_ece"]:.4f}, Brier {ev.metrics["test_brier"]:.4f} (plot:
`plots/calibration.png` in the run).

### Confidence
{confidence_summary(trained)}
### Cold start
A learner is flagged `cold_start` when their course had fewer than
{c.cold_start_min_learners} learners in the rows the model was fitted on (config
`cold_start_min_learners`); {len(trained.training_courses())} course(s) were in the training runs.

### Risk bands
{band_shares(trained)}
## Groups
{sensitive_policy(c)}

Largest AUC gap between groups: {ev.group_gap:.4f}. `ece`: calibration within the group.

{markdown_table(ev.groups.astype({"n": "int64"}))}
## Known limits
{LIMITS}"""
