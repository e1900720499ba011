"""Commands of the training stage: train, models list, models promote."""

from __future__ import annotations

import sys
from datetime import UTC
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mooc_risk.features.commands import Constructs, DataDir, as_of_days
from mooc_risk.models.targets import Target
from mooc_risk.progress import progress_steps

models_app = typer.Typer(help="Registered models: list versions, promote one by hand.",
                         no_args_is_help=True)


class Split(StrEnum):
    BY_RUN = "by-run"
    BY_COURSE = "by-course"


TargetOption = Annotated[Target, typer.Option("--target", help="What to predict.")]
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Training config (default: the shipped <target>.yaml).")]
Overrides = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a config key, e.g. --set lightgbm.num_leaves=63; repeatable. "
    "An unknown key is an error that lists the valid ones.")]


def train(
    data: DataDir,
    target: TargetOption,
    as_of: Annotated[str | None, typer.Option("--as-of", help="As-of days, e.g. 0,7,14 "
                                              "(default: the config's).")] = None,
    config: ConfigOption = None,
    overrides: Overrides = None,
    constructs: Constructs = None,
) -> None:
    """Train, evaluate on later runs, log to MLflow, register, and gate @champion."""
    from mooc_risk.features.build import default_spec
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.features.constructs import construct_map_for
    from mooc_risk.settings import EngineSettings, PathSettings, TrackingSettings
    from mooc_risk.training.publish import publish
    from mooc_risk.training.train import STEPS, fit_and_assess

    tracking, paths = TrackingSettings.from_env(), PathSettings.from_env()
    engine = EngineSettings.from_env()
    cfg = _config(config, target, overrides, as_of_days(as_of) if as_of else None)
    cmap = construct_map_for(data, constructs)
    with progress_steps(STEPS + 2, f"train {target}") as step:
        tables = read_tables(data, connect(engine.backend), cmap)
        step("input validated")
        trained = fit_and_assess(tables, cfg, default_spec(tables, cmap), on_step=step)
        published = publish(trained, tables, tracking, paths.cards_dir, source=str(data))
        step("logged and registered")
    _warn_skipped(trained)
    _print_summary(trained, published)


def evaluate(
    data: DataDir,
    target: TargetOption,
    out: Annotated[Path, typer.Option("--out", help="Report folder (predictions, report.md, plots).")],
    split: Annotated[Split, typer.Option("--split", help="by-run: earlier runs → later runs; "
                                         "by-course: seeded course-disjoint.")] = Split.BY_RUN,
    as_of: Annotated[str | None, typer.Option("--as-of", help="As-of days (default: the config's).")] = None,
    test_from: Annotated[str | None, typer.Option("--test-from", help="by-run: runs starting on or "
                                                  "after this date (YYYY-MM-DD) are the test side.")] = None,
    without_survey: Annotated[bool, typer.Option(
        "--without-survey", help="Leave the survey construct scores out (what does it add?).")] = False,
    config: ConfigOption = None,
    overrides: Overrides = None,
    constructs: Constructs = None,
) -> None:
    """Train on one side of an honest split and report on the other (no model is registered)."""
    from mooc_risk.features.build import default_spec
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.features.constructs import construct_map_for
    from mooc_risk.settings import EngineSettings, TrackingSettings
    from mooc_risk.training.evaluate import evaluate_to_folder
    from mooc_risk.training.train import STEPS

    tracking, engine = TrackingSettings.from_env(), EngineSettings.from_env()
    cmap = construct_map_for(data, constructs)
    extra = [f"split.strategy={split.value}", "compare_horizon_strategies=false", *(overrides or [])]
    if test_from:
        extra.append(f"split.test_from={test_from}")
    cfg = _config(config, target, extra, as_of_days(as_of) if as_of else None)
    if without_survey:
        cfg.exclude_features = [*cfg.exclude_features, *cmap.constructs, "survey_answered"]
    with progress_steps(STEPS + 2, f"evaluate {target}") as step:
        tables = read_tables(data, connect(engine.backend), cmap)
        step("input validated")
        report = evaluate_to_folder(tables, cfg, default_spec(tables, cmap), out, tracking,
                                    source=str(data), on_step=step)
    _warn_skipped(report.trained)
    typer.echo(report.by_day.round(3).to_string())
    typer.echo(f"report: {out / 'report.md'}")


def _config(path: Path | None, target: Target, overrides: list[str] | None, days: list[int] | None):
    from mooc_risk.training.config import load_config

    cfg = load_config(path, overrides, target=target, as_of_days=days)
    if cfg.target != target:
        raise typer.BadParameter(f"--target is {target}, but the config says target: {cfg.target}")
    return cfg


def _warn_skipped(trained) -> None:
    for day, why in trained.skipped_days.items():
        typer.secho(f"warning: as-of day {day} skipped: {why}", err=True, fg=typer.colors.YELLOW)


def _print_summary(trained, published) -> None:
    m = trained.assessment.metrics
    name = trained.config.registered_name
    typer.echo(f"{name} v{published.version} → @{published.alias}: {published.decision.reason}")
    typer.echo(f"split: {trained.split.strategy} ({trained.split.note})")
    typer.echo(f"test   AUC {m['test_auc']:.3f}  PR-AUC {m['test_pr_auc']:.3f}  "
               f"Brier {m['test_brier']:.3f}  ECE {m['test_ece']:.3f}  "
               f"top-10% precision {m['test_precision_top10']:.3f}")
    typer.echo(f"baseline AUC {m['baseline_test_auc']:.3f}")
    by_day = trained.assessment.by_day.pivot(index="as_of_day", columns="model", values="auc")
    typer.echo("AUC by as-of day:  " + "  ".join(
        f"d{d}: {row['lightgbm']:.3f}/{row['baseline']:.3f}" for d, row in by_day.iterrows())
        + "  (LightGBM/baseline)")
    typer.echo(f"model card: {published.card}   MLflow run: {published.run_id}")


@models_app.command("list")
def list_models() -> None:
    """Registered versions with their aliases and test metrics."""
    from rich.console import Console
    from rich.table import Table

    from mooc_risk.models import registry
    from mooc_risk.settings import TrackingSettings

    c = registry.client(TrackingSettings.from_env())
    table = Table(title="registered models")
    for column in ("name", "version", "aliases", "created (UTC)", "test_auc", "test_ece", "gate"):
        table.add_column(column, no_wrap=True)
    for model in sorted(c.search_registered_models(), key=lambda m: m.name):
        aliases = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(f"@{alias}")
        for v in sorted(c.search_model_versions(f"name='{model.name}'"), key=lambda v: int(v.version)):
            metrics = c.get_run(v.run_id).data.metrics if v.run_id else {}
            version = str(v.version)
            table.add_row(model.name, version, " ".join(aliases.get(version, [])),
                          _when(v.creation_timestamp), _fmt(metrics.get("test_auc")),
                          _fmt(metrics.get("test_ece")), (v.tags or {}).get("gate_reason", "")[:60])
    Console(width=None if sys.stdout.isatty() else 160).print(table)


@models_app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. mooc-risk-dropout.")],
    version: Annotated[str, typer.Argument(help="Version number to make @champion.")],
) -> None:
    """Make VERSION the @champion by hand (overrides the gate); the override is tagged."""
    from mlflow.exceptions import MlflowException

    from mooc_risk.models import registry
    from mooc_risk.settings import TrackingSettings

    c = registry.client(TrackingSettings.from_env())
    try:
        c.get_model_version(name, version)
    except MlflowException:
        typer.secho(f"error: no version {version} of {name!r} (see `mooc-risk models list`)",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    previous = registry.version_by_alias(c, name, registry.CHAMPION)
    registry.set_alias(c, name, registry.CHAMPION, version)
    c.set_model_version_tag(name, version, "gate_decision", "champion")
    c.set_model_version_tag(name, version, "gate_reason", "promoted by hand (mooc-risk models promote)")
    was = f" (was v{previous.version})" if previous is not None else ""
    typer.echo(f"{name} v{version} is now @champion{was}")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _when(millis: int | None) -> str:
    from datetime import datetime

    return "" if millis is None else f"{datetime.fromtimestamp(millis / 1000, UTC):%Y-%m-%d %H:%M}"


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)
    app.add_typer(models_app, name="models")
