"""The journal (intervention log and feedback) on SQLite, and on PostgreSQL when
MOOC_RISK_TEST_PG_URL is set (``export MOOC_RISK_TEST_PG_URL=$(.ci/postgres)``); without it the
PostgreSQL cases skip, unless MOOC_RISK_REQUIRE_POSTGRES=1 (CI), which makes them fail.

Each PostgreSQL test runs in a schema of its own (``search_path`` in the URL), dropped after."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from mooc_risk.errors import InputError
from mooc_risk.serving.journal import journal as journal_module
from mooc_risk.serving.journal.commands import interventions_app
from mooc_risk.serving.journal.journal import (
    FeedbackIn,
    FeedbackRow,
    InterventionIn,
    InterventionRow,
    Journal,
)
from mooc_risk.serving.journal.models import Base

PG_URL = os.environ.get("MOOC_RISK_TEST_PG_URL", "")
REQUIRE_PG = os.environ.get("MOOC_RISK_REQUIRE_POSTGRES", "") not in ("", "0")
PASSWORD = "s3cretpw"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database: a SQLite file in a folder not made yet, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state/journal.db"
        return
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("MOOC_RISK_REQUIRE_POSTGRES=1 but MOOC_RISK_TEST_PG_URL is not set "
                        "(start one: export MOOC_RISK_TEST_PG_URL=$(.ci/postgres))")
        pytest.skip("PostgreSQL: set MOOC_RISK_TEST_PG_URL (e.g. $(.ci/postgres)) to run")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(PG_URL, poolclass=sa.NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield (sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
               .render_as_string(hide_password=False))
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def journal(db_url):
    with Journal.open(db_url) as opened:
        yield opened


def _tables(url: str) -> set[str]:
    """The tables in the database at ``url`` (none when a SQLite file does not exist)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not os.path.exists(parsed.database):
        return set()
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", journal_module.MIGRATIONS)
    config.set_main_option("path_separator", "os")
    return ScriptDirectory.from_config(config).get_current_head()


def act(learner: str, run: str = "R1", course: str = "C1", **more) -> InterventionIn:
    return InterventionIn(course_id=course, run_id=run, learner_id=learner,
                          action=more.pop("action", "Send a re-engagement email"),
                          done_by=more.pop("done_by", "Ana (TA)"), **more)


# ------------------------------------------------------------------------------ migrations


def test_migrations_build_an_empty_database_to_head(db_url):
    assert _tables(db_url) == set()
    with Journal.open(db_url) as journal:
        assert _tables(db_url) == {"interventions", "feedback", "holdout", "alembic_version"}
        engine = journal._engine
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            assert set(inspector.get_table_names()) == {"interventions", "feedback", "holdout",
                                                        "alembic_version"}
            for table in ("interventions", "feedback"):
                assert ["course_id", "run_id", "learner_id"] in [
                    i["column_names"] for i in inspector.get_indexes(table)]
            assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() \
                == [_head()]
            # the migrations build exactly what the models describe
            from alembic.autogenerate import compare_metadata
            from alembic.migration import MigrationContext

            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            if engine.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert _head() == "0002"


def test_opening_twice_changes_nothing(db_url):
    with Journal.open(db_url) as first:
        (kept,) = first.record_interventions([act("L1")])
    urls = [db_url]
    if db_url.startswith("postgresql+psycopg://"):  # plain postgresql:// means psycopg too
        urls.append(db_url.replace("postgresql+psycopg://", "postgresql://", 1))
    for url in urls:
        with Journal.open(url) as again:
            assert again.interventions("C1") == [kept]
            with again._engine.connect() as connection:
                assert connection.execute(sa.text("SELECT version_num FROM alembic_version")) \
                    .scalars().all() == [_head()]


def test_journals_opened_at_once_on_an_empty_database_all_work(db_url):
    def open_and_record(i: int) -> int:
        with Journal.open(db_url) as journal:
            return journal.record_interventions([act(f"L{i}")])[0].id

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(open_and_record, range(4)))
    assert len(set(ids)) == 4
    with Journal.open(db_url) as journal:
        assert sorted(r.learner_id for r in journal.interventions("C1")) == ["L0", "L1", "L2", "L3"]


# several processes (the service's workers) opening an empty database at the same moment, then
# writing at once
CHILD = """
import sys, time
import alembic.command
from mooc_risk.serving.journal.journal import InterventionIn, Journal
url, who, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
with Journal.open(url) as journal:
    for i in range(10):
        journal.record_interventions([InterventionIn("C1", "R1", f"{who}{i}", "email", "Ana")])
"""


def test_processes_opening_an_empty_database_at_once_all_work(db_url, tmp_path):
    start = time.time() + 0.8  # after the children's imports (~0.4 s)
    children = [subprocess.Popen([sys.executable, "-c", CHILD, db_url, who, str(start)], cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for who in "ABC"]
    results = [(child.wait(timeout=60), child.stderr.read()) for child in children]
    assert results == [(0, "")] * 3
    with Journal.open(db_url) as journal:
        assert len({r.learner_id for r in journal.interventions("C1")}) == 30


# ------------------------------------------------------------------------------ interventions


def test_interventions_read_back_newest_first_with_filters(journal):
    before = datetime.now().astimezone().replace(tzinfo=None) - timedelta(days=1)
    first = journal.record_interventions([
        act("L1", note="  Emailed; asked about the deadline, \"week 3\"\nand quiz 2.  ",
            done_by="  Ana (TA) ", as_of_day=14, target="dropout", model_name="mooc-risk-dropout",
            model_version="3", risk=0.82, risk_band="high", suggested="Send a re-engagement email",
            key_id="k-17"),
        act("L2", action="Phone call"),
        act("L1", run="R2"),
    ])
    assert [r.learner_id for r in first] == ["L1", "L2", "L1"]
    assert len({r.recorded_at for r in first}) == 1 and first[0].recorded_at > before
    assert first[0].recorded_at.tzinfo is None
    assert (first[0].note, first[0].done_by) == ("Emailed; asked about the deadline, \"week 3\"\nand quiz 2.",
                                                 "Ana (TA)")
    (later,) = journal.record_interventions([act("L1", action="Offered office hours")])
    journal.record_interventions([act("L1", course="C2")])

    everything = journal.interventions("C1")
    assert [r.id for r in everything] == [later.id, first[2].id, first[1].id, first[0].id]
    assert everything[-1] == first[0]
    assert all(isinstance(r, InterventionRow) for r in everything)
    assert [r.id for r in journal.interventions("C1", run_id="R1")] == [later.id, first[1].id, first[0].id]
    assert [r.id for r in journal.interventions("C1", run_id="R1", learner_id="L1")] == [later.id, first[0].id]
    assert [r.id for r in journal.interventions("C1", learner_id="L1")] == [later.id, first[2].id, first[0].id]
    assert [r.id for r in journal.interventions("C1", limit=2)] == [later.id, first[2].id]
    assert journal.interventions("C9") == []

    last = journal.last_interventions("C1", "R1")
    assert last == {"L1": later, "L2": first[1]}
    assert journal.last_interventions("C1", "R2") == {"L1": first[2]}
    assert journal.last_interventions("C1", "R9") == {}

    shown = json.loads(json.dumps(first[0].to_dict()))
    assert shown["recorded_at"] == first[0].recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {k: shown[k] for k in ("id", "risk", "as_of_day", "key_id", "suggested")} == {
        "id": first[0].id, "risk": 0.82, "as_of_day": 14, "key_id": "k-17",
        "suggested": "Send a re-engagement email"}


def test_one_journal_from_several_threads(journal):
    def record(thread: int) -> list[int]:
        return [journal.record_interventions([act(f"L{thread}-{i}"), act(f"L{thread}-{i}b")])[0].id
                for i in range(5)]

    with ThreadPoolExecutor(4) as pool:
        ids = [i for chunk in pool.map(record, range(4)) for i in chunk]
    stored = journal.interventions("C1")
    assert len(stored) == 40 and len({r.id for r in stored}) == 40
    assert set(ids) <= {r.id for r in stored}


@pytest.mark.parametrize(("bad", "message"), [
    ({"note": "x" * 2001}, "note: at most 2000 characters"),
    ({"done_by": "   "}, "done_by: must not be empty"),
    ({"done_by": "d" * 201}, "done_by: at most 200 characters"),
    ({"action": ""}, "action: must not be empty"),
    ({"action": "a" * 501}, "action: at most 500 characters"),
    ({"learner": ""}, "learner_id: must not be empty"),
    ({"course": "c" * 201}, "course_id: at most 200 characters"),
    ({"risk": 1.5}, "risk: must be a probability from 0 to 1"),
    ({"risk": float("nan")}, "risk: must be a probability from 0 to 1"),
    ({"as_of_day": -1}, "as_of_day: must be a whole number of days"),
    ({"note": "nul \x00 inside"}, "note: must not contain NUL characters"),
    ({"suggested": "s" * 501}, "suggested: at most 500 characters"),
])
def test_a_batch_with_one_bad_row_stores_nothing(journal, bad, message):
    good = act("L1", note="x" * 2000, done_by="d" * 200, risk=1.0, as_of_day=0)
    bad = dict(bad)  # the parameter is shared by both backends' runs
    bad_row = act(bad.pop("learner", "L2"), course=bad.pop("course", "C1"), **bad)
    with pytest.raises(InputError) as raised:
        journal.record_interventions([good, good, bad_row])
    assert str(raised.value) == f"{message} (row 3 of 3)" or str(raised.value).startswith(message)
    assert str(raised.value).endswith("(row 3 of 3)")
    assert journal.interventions("C1") == []
    with pytest.raises(InputError, match=f"^{re.escape(message)}"):
        journal.record_interventions([bad_row])
    assert journal.record_interventions([good])[0].note == "x" * 2000  # the limits are inclusive


def test_a_failure_inside_the_transaction_stores_nothing(journal, monkeypatch):
    made = []

    def failing_row(cls, stored):  # fails after the rows were inserted (flushed) in the transaction
        if made:
            raise RuntimeError("boom")
        made.append(stored)
        return cls(**{name: getattr(stored, name) for name in cls.__dataclass_fields__})

    monkeypatch.setattr(journal_module, "_row", failing_row)
    with pytest.raises(RuntimeError, match="boom"):
        journal.record_interventions([act("L1"), act("L2")])
    assert made and made[0].id is not None  # the insert did happen
    monkeypatch.undo()
    assert journal.interventions("C1") == []
    assert journal.record_interventions([]) == []


# ------------------------------------------------------------------------------ feedback


def test_feedback_round_trip(journal):
    first = journal.record_feedback(FeedbackIn("C1", "R1", "L1", useful=True, reason=" spot on ",
                                               target="dropout", as_of_day=7, model_name="m",
                                               model_version="2", risk=0.7, risk_band="high", key_id="k1"))
    second = journal.record_feedback(FeedbackIn("C1", "R1", "L2", useful=False))
    third = journal.record_feedback(FeedbackIn("C1", "R2", "L1", useful=False, reason="already dropped"))
    journal.record_feedback(FeedbackIn("C2", "R1", "L1", useful=True))
    assert isinstance(first, FeedbackRow) and first.reason == "spot on" and first.useful is True
    assert (first.risk, first.as_of_day, first.key_id, first.target) == (0.7, 7, "k1", "dropout")
    assert second.reason == "" and second.useful is False and second.risk is None

    assert journal.feedback("C1") == [third, second, first]
    assert journal.feedback("C1", run_id="R1") == [second, first]
    assert journal.feedback("C1", learner_id="L1") == [third, first]
    assert journal.feedback("C1", run_id="R1", learner_id="L1", limit=1) == [first]
    assert json.loads(json.dumps(first.to_dict()))["useful"] is True

    with pytest.raises(InputError, match=r"^reason: at most 500 characters$"):
        journal.record_feedback(FeedbackIn("C1", "R1", "L1", useful=True, reason="r" * 501))
    with pytest.raises(InputError, match=r"^useful: must be true or false$"):
        journal.record_feedback(FeedbackIn("C1", "R1", "L1", useful="yes"))  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^run_id: must not be empty$"):
        journal.record_feedback(FeedbackIn("C1", " ", "L1", useful=True))
    assert len(journal.feedback("C1")) == 3


# ------------------------------------------------------------------------------ opening errors


@pytest.mark.parametrize(("url", "says"), [
    (f"postgresql+psycopg://mooc:{PASSWORD}@127.0.0.1:1/mooc_risk_test", "cannot be opened"),
    (f"postgresql://mooc:{PASSWORD}@127.0.0.1:1/mooc_risk_test", "cannot be opened"),
    (f"postgresql+psycopg://mooc:{PASSWORD}@127.0.0.1:port/db", "cannot be read"),
    (f"not a url {PASSWORD}", "cannot be read"),
    (f"postgresql://mooc:{PASSWORD}@here@127.0.0.1:1/db", "must be %-encoded"),
    (f"postgresql+nosuchdriver://mooc:{PASSWORD}@127.0.0.1:1/db", "unknown driver"),
    (f"postgresql+psycopg2://mooc:{PASSWORD}@127.0.0.1:1/db", "not installed"),
    (f"mysql://mooc:{PASSWORD}@127.0.0.1:1/db", "unsupported database 'mysql'"),
    ("sqlite://", "needs a SQLite file"),
])
def test_a_bad_or_unreachable_database_is_one_line_without_the_password(url, says):
    with pytest.raises(InputError) as raised:
        Journal.open(url)
    message = str(raised.value)
    assert says in message and "\n" not in message
    everything = "".join(traceback.format_exception(raised.value))
    assert PASSWORD not in everything and "here" not in everything
    if "127.0.0.1:1/" in url and "cannot be opened" in says:
        assert "mooc:***@127.0.0.1:1" in message and "refused" in message.lower()


def test_an_unwritable_sqlite_folder_is_an_input_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InputError, match="cannot create the folder"):
        Journal.open(f"sqlite:///{tmp_path}/file/sub/journal.db")


# ------------------------------------------------------------------------------ two journals, SQLite


def test_two_journals_on_one_sqlite_file_see_each_others_rows(tmp_path):
    url = f"sqlite:///{tmp_path}/journal.db"
    with Journal.open(url) as one, Journal.open(url) as two:
        (mine,) = one.record_interventions([act("L1")])
        assert two.interventions("C1") == [mine]
        theirs = two.record_feedback(FeedbackIn("C1", "R1", "L1", useful=True))
        assert one.feedback("C1") == [theirs]

        start = threading.Barrier(2)

        def write(journal: Journal, who: str) -> None:  # both write at once: the other waits
            start.wait()
            for i in range(20):
                journal.record_interventions([act(f"{who}{i}")])

        threads = [threading.Thread(target=write, args=(j, w)) for j, w in ((one, "A"), (two, "B"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(one.interventions("C1")) == len(two.interventions("C1")) == 41


# ------------------------------------------------------------------------------ export command


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(interventions_app, name="interventions")
    return app


def test_export_writes_a_csv_that_reads_back(journal, db_url, tmp_path):
    journal.record_interventions([
        act("L1", note='Called, "no answer"; left a message,\nwill retry', as_of_day=7, risk=0.5),
        act("L2", run="R2", note="", risk_band="low"),
    ])
    journal.record_interventions([act("L1", action="Offered office hours")])
    journal.record_feedback(FeedbackIn("C1", "R1", "L1", useful=False, reason="wrong, too late"))
    journal.record_interventions([act("L9", course="C2")])
    stored = sorted(journal.interventions("C1"), key=lambda r: r.id)
    runner = CliRunner()
    env = {"MOOC_RISK_DB_URL": db_url}

    out = tmp_path / "exports" / "c1.csv"
    result = runner.invoke(_cli(), ["interventions", "export", "--course", "C1", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"3 interventions for course C1 → {out}"
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(back.columns) == [f for f in InterventionRow.__dataclass_fields__]
    assert back["id"].tolist() == [str(r.id) for r in stored]  # oldest first
    for column in ("learner_id", "run_id", "action", "note", "done_by"):
        assert back[column].tolist() == [getattr(r, column) for r in stored]
    assert back["as_of_day"].tolist() == ["7", "", ""]
    assert back["risk"].tolist() == ["0.5", "", ""]
    assert pd.to_datetime(back["recorded_at"]).tolist() == [pd.Timestamp(r.recorded_at) for r in stored]

    result = runner.invoke(_cli(), ["interventions", "export", "--course", "C1"], env=env)
    assert result.exit_code == 0, result.output
    assert "→ standard output" in result.stderr
    from io import StringIO

    assert pd.read_csv(StringIO(result.stdout), dtype=str, keep_default_na=False).equals(back)

    parquet = tmp_path / "fb.parquet"
    result = runner.invoke(_cli(), ["interventions", "export", "--course", "C1", "--feedback",
                                    "--out", str(parquet)], env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"1 feedback entry for course C1 → {parquet}"
    feedback = pd.read_parquet(parquet)
    assert feedback[["learner_id", "useful", "reason"]].values.tolist() == [["L1", False, "wrong, too late"]]


def test_export_with_a_bad_database_url_is_an_input_error(tmp_path):
    runner = CliRunner()
    url = f"postgresql+psycopg://mooc:{PASSWORD}@127.0.0.1:1/db"
    result = runner.invoke(_cli(), ["interventions", "export", "--course", "C1"],
                           env={"MOOC_RISK_DB_URL": url})
    assert isinstance(result.exception, InputError)  # the CLI root prints it, exit code 2
    assert PASSWORD not in str(result.exception) and PASSWORD not in result.output
    result = runner.invoke(_cli(), ["interventions", "export", "--course", "C1", "--out",
                                    str(tmp_path / "x.json")],
                           env={"MOOC_RISK_DB_URL": f"sqlite:///{tmp_path}/j.db"})
    assert isinstance(result.exception, InputError) and "x.json" in str(result.exception)
    assert not (tmp_path / "j.db").exists()  # checked before opening anything
