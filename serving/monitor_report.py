"""The report of ``mooc-risk monitor`` (``serving.monitor``): a folder written whole
(``mooc_risk.files.folder_replacing``: a failed or killed run leaves the previous report)::

    REPORT_DIR/index.html                 plain HTML (no scripts, no CDN): rules fired, drift and
                                          decay tables, the figures below, links to Evidently's
    REPORT_DIR/monitor.json               the same figures, machine-readable (``monitor.as_dict``)
    REPORT_DIR/scores-<target>.png        the model's probability, reference vs current, per day
    REPORT_DIR/auc-<target>.png           realised AUC by as-of day (per course) vs the test AUC
                                          (by as-of day; the decay table names the test AUC each
                                          cell was compared with: ``test_auc``, ``test_auc_of``)
    REPORT_DIR/drift-<target>-day<d>.html Evidently's data drift report of the day (its own JS)

and the same figures logged to the MLflow experiment ``mooc-risk-monitor``, one run per call.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path

from mooc_risk.files import folder_replacing
from mooc_risk.serving.monitor import EXPERIMENT, MonitorResult, TargetReport, as_dict


def write_report(out: Path, build: Callable[[Path], MonitorResult]) -> MonitorResult:
    """Run ``build(stage)`` (it writes Evidently's HTML files into the stage folder), then write
    the figures, ``monitor.json`` and ``index.html`` next to them and swap the folder in as
    ``out``; the result. Any failure leaves ``out`` as it was."""
    with folder_replacing(out) as stage:
        result = build(stage)
        figures = {}
        for report in result.targets:
            figures[report.target] = _figures(report, stage)
        (stage / "monitor.json").write_text(json.dumps(as_dict(result), indent=1) + "\n")
        (stage / "index.html").write_text(render_html(result, figures))
    return result


def _figures(report: TargetReport, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    if report.scores:
        days = sorted(report.scores)
        fig, axes = plt.subplots(1, len(days), figsize=(4 * len(days), 3), squeeze=False)
        for ax, day in zip(axes[0], days, strict=True):
            bins = [i / 20 for i in range(21)]
            for side, colour in (("reference", "#888888"), ("current", "#1f77b4")):
                ax.hist(report.scores[day][side], bins=bins, density=True, alpha=0.55, color=colour,
                        label=f"{side} ({len(report.scores[day][side]):,})")
            ax.set(title=f"day {day}", xlabel=f"P({report.target})", ylabel="density")
            ax.legend(fontsize=7)
        fig.suptitle(f"{report.model} v{report.version}: score distribution")
        fig.tight_layout()
        names.append(f"scores-{report.target}.png")
        fig.savefig(folder / names[-1], dpi=90)
        plt.close(fig)
    realised = [c for c in report.decay if c.get("auc") is not None]
    if realised or report.test_auc_by_day:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for course in sorted({c["course_id"] for c in realised}):
            cells = sorted((c["as_of_day"], c["auc"]) for c in realised if c["course_id"] == course)
            ax.plot(*zip(*cells, strict=True), marker="o", label=f"realised, {course}")
        if report.test_auc_by_day:
            days = sorted(report.test_auc_by_day)
            ax.plot(days, [report.test_auc_by_day[d] for d in days], "k--", marker="s",
                    label="test (training)")
        elif "test_auc" in report.test_metrics:
            ax.axhline(report.test_metrics["test_auc"], color="k", linestyle="--", label="test (training)")
        ax.set(xlabel="as-of day", ylabel="AUC", title=f"{report.model} v{report.version}: AUC by as-of day")
        ax.legend(fontsize=7)
        fig.tight_layout()
        names.append(f"auc-{report.target}.png")
        fig.savefig(folder / names[-1], dpi=90)
        plt.close(fig)
    return names


def _e(value) -> str:
    return html.escape(str(value))


def _fmt(value, pattern: str = "{:.3f}") -> str:
    return "–" if value is None else pattern.format(value)


def render_html(result: MonitorResult, figures: dict[str, list[str]]) -> str:
    """``index.html``: one page, inline CSS only."""
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>mooc-risk monitor {_e(result.date)}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}"
           ".fired{color:#b00;font-weight:bold}</style></head><body>",
           f"<h1>mooc-risk monitor, {_e(result.date)}</h1>",
           f"<p>Data: {_e(result.data)}" + (f"; course {_e(result.course)}" if result.course else "")
           + "</p>"]
    signals = result.signals
    out.append("<p class='fired'>Retrain: " + "; ".join(_e(f"{s.target}: {s.text}") for s in signals)
               + "</p>" if signals else "<p>No rule fired.</p>")
    out += [f"<p>{_e(n)}</p>" for n in result.notes]
    for report in result.targets:
        out.append(f"<h2>{_e(report.target)}: {_e(report.model)} v{_e(report.version)}</h2>")
        out += [f"<p><b>{_e(n)}</b></p>" for n in report.notes]
        if report.drift:
            out.append("<h3>Drift (current running runs vs the training reference)</h3><table><tr>"
                       "<th>as-of day</th><th>reference rows</th><th>current rows</th>"
                       "<th>drifted features</th><th>share</th><th>score drift</th><th>Evidently</th></tr>")
            for d in report.drift:
                if not d.get("tested"):
                    out.append(f"<tr><td>{d['as_of_day']}</td><td>{d['reference_rows']}</td>"
                               f"<td>{d['current_rows']}</td><td colspan='4'>not tested: "
                               f"{_e(d['why'])}</td></tr>")
                    continue
                score = d["score_drift"] or {}
                drifted = ", ".join(c["column"] for c in d["drifted_features"]) or "none"
                out.append(
                    f"<tr><td>{d['as_of_day']}</td><td>{d['reference_rows']}</td><td>{d['current_rows']}"
                    f"</td><td>{_e(drifted)}</td><td>{d['drift_share']:.0%}</td><td>"
                    f"{'yes' if score.get('drifted') else 'no'} ({_e(score.get('method', ''))} "
                    f"{_fmt(score.get('value'), '{:.3g}')})</td>"
                    f"<td><a href='{_e(d['html'])}'>report</a></td></tr>")
            out.append("</table>")
        if report.decay:
            test = report.test_metrics
            out.append("<h3>Decay (predictions issued vs outcomes)</h3><p>Test figures: AUC "
                       f"{_fmt(test.get('test_auc'))} (pooled), PR-AUC {_fmt(test.get('test_pr_auc'))}, "
                       f"ECE {_fmt(test.get('test_ece'))}, top-10% precision "
                       f"{_fmt(test.get('test_precision_top10'))}. Each cell's AUC is compared with "
                       "the test AUC of its as-of day, or the pooled one for a day without it.</p>"
                       "<table><tr><th>course</th><th>as-of day</th><th>labelled</th><th>positives</th>"
                       "<th>AUC</th><th>test AUC (of)</th><th>PR-AUC</th><th>ECE</th>"
                       "<th>top-10% precision</th><th>status</th></tr>")
            for c in report.decay:
                reference = (f"{_fmt(c['test_auc'])} ({_e(c.get('test_auc_of', ''))})"
                             if c.get("test_auc") is not None else "–")
                out.append(f"<tr><td>{_e(c['course_id'])}</td><td>{c['as_of_day']}</td><td>{c['n']}</td>"
                           f"<td>{c['positives']}</td><td>{_fmt(c['auc'])}</td><td>{reference}</td>"
                           f"<td>{_fmt(c['pr_auc'])}</td><td>{_fmt(c['ece'])}</td>"
                           f"<td>{_fmt(c['precision_top10'])}</td><td>{_e(c['status'])}</td></tr>")
            out.append("</table>")
        for name in figures.get(report.target, []):
            out.append(f"<p><img src='{_e(name)}' alt='{_e(name)}'></p>")
    out.append("<p><a href='monitor.json'>monitor.json</a></p></body></html>")
    return "\n".join(out) + "\n"


def log_to_mlflow(tracking, result: MonitorResult, report_dir: Path) -> str:
    """One run in the experiment ``mooc-risk-monitor``: params (date, data, course), per target
    the model version as a tag, the drift share / score drift per day and the realised
    AUC / PR-AUC / ECE / top-10% precision per course and day as metrics, the signals as tags,
    and ``monitor.json``, ``index.html`` and the figures as artifacts (Evidently's HTML files,
    a few MB each, stay in the report folder). The run's id."""
    import mlflow

    from mooc_risk.models import registry

    c = registry.client(tracking)
    found = c.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found is not None else c.create_experiment(
        EXPERIMENT, artifact_location=(tracking.artifact_root.resolve() / EXPERIMENT).as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_params({"date": result.date, "data": result.data, "course": result.course or "all"})
        metrics, tags = {}, {"retrain": str(bool(result.signals)).lower()}
        for report in result.targets:
            tags[f"{report.target}_model_version"] = f"{report.model}/{report.version}"
            if report.signals:
                tags[f"{report.target}_retrain_signal"] = "; ".join(s.text for s in report.signals)[:500]
            t = report.target
            for d in report.drift:
                if d.get("tested"):
                    metrics[f"{t}_drift_share_day_{d['as_of_day']}"] = d["drift_share"]
                    if d["score_drift"] and d["score_drift"]["value"] is not None:
                        metrics[f"{t}_score_drift_day_{d['as_of_day']}"] = d["score_drift"]["value"]
            for cell in report.decay:
                for name in ("auc", "pr_auc", "ece", "precision_top10"):
                    if cell.get(name) is not None:
                        metrics[f"{t}_{name}_{cell['course_id']}_day_{cell['as_of_day']}"] = cell[name]
        mlflow.set_tags(tags)
        if metrics:  # MLflow's names allow letters, digits and _-. :/ (a course id may have more)
            mlflow.log_metrics({re.sub(r"[^\w\-. :/]", "_", k): v for k, v in metrics.items()})
        for path in sorted(Path(report_dir).iterdir()):
            if path.suffix in (".json", ".png") or path.name == "index.html":
                mlflow.log_artifact(str(path))
    return run.info.run_id
