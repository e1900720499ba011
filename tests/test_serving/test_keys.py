"""API keys a user manages: add (label, expiry), list, revoke; revoked and expired keys get 401
at once, without a restart; files of the first format still load; a malformed file is named."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime, timedelta

import pytest
import yaml
from typer.testing import CliRunner

from mooc_risk.cli import build_app
from mooc_risk.errors import InputError
from mooc_risk.serving.keys import AuthError, KeyRing, Keys, KeysUnavailable, add_key, create_key


@pytest.fixture
def keys_file(tmp_path):
    return tmp_path / "keys.yaml"


@pytest.fixture
def keys(keys_file):
    """Run ``mooc-risk keys ...`` against ``keys_file``."""
    runner, app = CliRunner(), build_app()

    def run(*args: str):
        return runner.invoke(app, ["keys", *args], env={"MOOC_RISK_KEYS_FILE": str(keys_file)})

    return run


def added(result) -> tuple[str, str]:
    """(id, key) from the output of ``keys add``."""
    assert result.exit_code == 0, result.output
    match = re.match(r"new key (\S+) for course ", result.stdout)
    assert match, result.stdout
    return match[1], result.stdout.split()[-1]


def test_add_prints_the_id_label_and_expiry_and_the_key_as_the_last_word(keys, keys_file):
    result = keys("add", "--course", "C001", "--label", "tutors of C001", "--expires", "30d")
    key_id, key = added(result)
    assert key.startswith("mrk_") and len(result.stdout.strip().splitlines()) == 1
    assert "'tutors of C001'" in result.stdout and "expires " in result.stdout
    assert str(keys_file) in result.stdout
    stored = keys_file.read_text()
    assert key not in stored and hashlib.sha256(key.encode()).hexdigest() in stored
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"

    entry = KeyRing.load(keys_file).identify(key)
    assert (entry.id, entry.course, entry.label) == (key_id, "C001", "tutors of C001")
    assert re.fullmatch(r"[0-9a-f]{8}", key_id)
    assert entry.expires_at - entry.created_at == timedelta(days=30)
    assert "sha256" not in repr(entry) and hashlib.sha256(key.encode()).hexdigest() not in repr(entry)
    raw = yaml.safe_load(stored)["keys"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", raw["created_at"])


def test_each_key_opens_its_course_only_and_star_opens_every_course(keys, keys_file):
    _, c001 = added(keys("add", "--course", "C001"))
    _, every = added(keys("add", "--course", "*", "--label", "dashboard"))
    ring = KeyRing.load(keys_file)
    ring.check(c001, "C001")
    ring.check(every, "C777")
    with pytest.raises(AuthError, match="not valid for course 'C002'") as refused:
        ring.check(c001, "C002")
    assert refused.value.status == 403
    with pytest.raises(AuthError, match="unknown API key") as unknown:
        ring.check("mrk_not-a-key", "C001")
    assert unknown.value.status == 401


def test_a_bad_expiry_is_refused_with_an_example_and_adds_no_key(keys, keys_file):
    for bad in ("5y", "2020-01-01", "0d", "2030-02-30"):
        result = keys("add", "--course", "C001", "--expires", bad)
        assert result.exit_code == 2, bad
        assert "--expires" in result.stderr and "e.g." in result.stderr, result.stderr
    assert not keys_file.exists()


def test_a_revoked_key_gets_401_at_once_from_a_running_service(keys, keys_file):
    key_id, key = added(keys("add", "--course", "C001", "--label", "tutors"))
    _, other = added(keys("add", "--course", "C001"))
    served = Keys(keys_file)  # as the running service holds it
    served.current().check(key, "C001")
    assert served.current().active(key_id).label == "tutors"
    before = keys_file.stat().st_mtime_ns

    result = keys("revoke", key_id)
    assert result.exit_code == 0 and f"revoked key {key_id}" in result.stdout
    os.utime(keys_file, ns=(before, before))  # rewritten within the same clock tick: no sleep, same mtime

    ring = served.current()
    with pytest.raises(AuthError, match=r"^this API key was revoked$") as refused:
        ring.check(key, "C001")
    assert refused.value.status == 401
    with pytest.raises(AuthError, match="revoked"):
        ring.identify(key)
    assert ring.active(key_id) is None  # a web session holding this id ends
    ring.check(other, "C001")  # the other key still works
    entry = next(e for e in ring.entries if e.id == key_id)  # stays in the file, for audit
    assert entry.revoked_at is not None and entry.label == "tutors"


def test_revoking_twice_is_fine_and_an_unknown_id_is_an_error(keys, keys_file):
    key_id, _ = added(keys("add", "--course", "C001"))
    assert keys("revoke", key_id).exit_code == 0
    stored = keys_file.read_text()
    again = keys("revoke", key_id)
    assert again.exit_code == 0 and "already revoked" in again.stdout
    assert keys_file.read_text() == stored  # the first revocation time is kept

    unknown = keys("revoke", "deadbeef")
    assert unknown.exit_code == 2
    assert "no key with id 'deadbeef' (see `mooc-risk keys list`)" in unknown.stderr


def test_an_expired_key_gets_401_naming_the_day(keys, keys_file):
    key_id, key = added(keys("add", "--course", "C001", "--expires", "1d"))
    ring = KeyRing.load(keys_file)
    entry = ring.identify(key)
    later = entry.created_at + timedelta(days=2)
    ring.check(key, "C001", now=entry.created_at + timedelta(hours=23))
    with pytest.raises(AuthError) as refused:
        ring.check(key, "C001", now=later)
    day = (entry.created_at + timedelta(days=1)).date().isoformat()
    assert refused.value.status == 401 and str(refused.value) == f"this API key expired on {day}"
    assert key not in str(refused.value)
    assert ring.active(key_id, now=later) is None
    assert ring.active(key_id, now=entry.created_at) == entry


def test_list_shows_every_key_with_its_status_and_never_a_hash(keys, keys_file):
    active_id, _ = added(keys("add", "--course", "C001", "--label", "tutors of C001"))
    revoked_id, _ = added(keys("add", "--course", "C002"))
    keys("revoke", revoked_id)
    expired_id, expired = added(keys("add", "--course", "*", "--expires", "1h"))
    ring = KeyRing.load(keys_file)
    past = ring.identify(expired).created_at - timedelta(hours=2)  # make it expired: rewrite the file
    data = yaml.safe_load(keys_file.read_text())
    data["keys"][2]["expires_at"] = past.strftime("%Y-%m-%dT%H:%M:%SZ")
    keys_file.write_text(yaml.safe_dump(data))

    result = keys("list")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows[active_id].split()[-1] == "active" and "tutors of C001" in rows[active_id]
    assert rows[revoked_id].split()[-1] == "revoked"
    assert rows[expired_id].split()[-1] == "expired"
    for entry in data["keys"]:
        assert entry["sha256"] not in result.output and entry["sha256"][:16] not in result.output
    assert not re.search(r"[0-9a-f]{32}", result.output)


def test_list_of_no_keys_says_how_to_add_one(keys):
    result = keys("list")
    assert result.exit_code == 0 and "keys add --course" in result.stdout


def test_a_file_of_the_first_format_loads_and_survives_a_new_key(keys_file):
    old = "mrk_an-old-key"
    digest = hashlib.sha256(old.encode()).hexdigest()
    keys_file.write_text(yaml.safe_dump({"keys": [{"course": "C001", "sha256": digest}]}))
    ring = KeyRing.load(keys_file)
    entry = ring.identify(old)
    assert (entry.id, entry.course, entry.label, entry.expires_at, entry.revoked_at) == (
        digest[:8], "C001", "", None, None)
    assert ring.active(digest[:8]) == entry
    ring.check(old, "C001")

    new = add_key(keys_file, "C002")  # the old call still works, and rewrites the file
    ring = KeyRing.load(keys_file)
    assert ring.identify(old).id == digest[:8]
    assert ring.courses_for(new) == {"C002"}


@pytest.mark.parametrize(("entry", "message"), [
    ({"expires_at": "next tuesday"}, "keys.yaml: entry 3: expires_at: not an ISO 8601 time"),
    ({"sha256": "abc"}, "keys.yaml: entry 3: sha256: not a SHA-256 hash"),
    ({"sha256": None}, "keys.yaml: entry 3: sha256: not a SHA-256 hash"),
    ({"course": ""}, "keys.yaml: entry 3: course: empty"),
    ({"id": "first"}, "keys.yaml: entry 3: id: 'first' is also the id of entry 1"),
    ({"expires": "2030-01-01"}, "keys.yaml: entry 3: unknown field 'expires'"),
])
def test_a_malformed_entry_is_named_by_file_and_number(keys_file, keys, entry, message):
    digests = [hashlib.sha256(f"mrk_{i}".encode()).hexdigest() for i in range(3)]
    entries = [{"id": "first", "course": "C001", "sha256": digests[0]},
               {"course": "C001", "sha256": digests[1]},
               {"id": "third", "course": "C001", "sha256": digests[2], **entry}]
    keys_file.write_text(yaml.safe_dump({"keys": entries}))
    with pytest.raises(InputError) as refused:
        KeyRing.load(keys_file)
    assert message in str(refused.value)
    assert not any(d[:16] in str(refused.value) for d in digests)
    with pytest.raises(KeysUnavailable):  # the service: 503, details in its log only
        Keys(keys_file).current()

    before = keys_file.read_text()
    for args in (["list"], ["add", "--course", "C009"], ["revoke", "first"]):
        result = keys(*args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)
    assert keys_file.read_text() == before  # nothing written over a malformed file


def test_the_library_refuses_an_expiry_in_the_past(keys_file):
    now = datetime(2030, 1, 1, 12)
    with pytest.raises(ValueError, match="not in the future"):
        create_key(keys_file, "C001", expires_at=now - timedelta(hours=1), now=now)
    entry, key = create_key(keys_file, "C001", label="x", expires_at=now + timedelta(hours=1), now=now)
    assert entry.created_at == now and KeyRing.load(keys_file).identify(key, now=now) == entry
