"""Every reason template reads right for any value a feature row can hold (property test)."""

import re

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mooc_risk.serving.reasons import load_catalogue
from mooc_risk.serving.wording import sentence, shows

GROUPS = load_catalogue().groups
DOMAINS = {  # what a feature row holds, by unit
    "days": st.floats(0, 400), "count": st.floats(0, 5000), "share": st.floats(0, 1),
    "scale": st.floats(1, 5), "hours_week": st.floats(0, 168), "money": st.floats(0, 5000),
    "flag": st.sampled_from([0.0, 1.0]),
}
UNIT_WORDS = {"days": r"\b(day|days)\b", "count": None, "share": "%", "scale": r" of 5\b",
              "hours_week": r" h a week\b", "money": r"\b(USD|GBP|currency not recorded)\b"}


def value_for(name, spec):
    domain = DOMAINS[spec.unit]
    if spec.text_negative:  # e.g. enrolled after the start
        domain = st.one_of(domain, st.floats(-400, 0))
    return st.one_of(st.none(), st.just(float("nan")), domain)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_reason_template_reads_right(data):
    name = data.draw(st.sampled_from(sorted(GROUPS)))
    spec = GROUPS[name]
    value = data.draw(value_for(name, spec))
    reference = data.draw(st.one_of(st.none(), DOMAINS[spec.unit]))
    currency = data.draw(st.sampled_from([None, "USD", "GBP"]))
    text = sentence(spec, value, reference, "finish", 5, currency)
    assert text and "{" not in text and "}" not in text, text
    assert not re.search(r"\b(nan|none|null)\b", text, re.IGNORECASE), text
    assert not re.search(r"-\s?\d", text), text  # no negative numbers ("-3 days")
    missing = value is None or np.isnan(value)
    if not missing and UNIT_WORDS.get(spec.unit):
        assert re.search(UNIT_WORDS[spec.unit], text.split(";")[0]), text  # a unit with the value
    if "; " in text:  # a comparison: never of a value with itself
        mine, theirs = (re.findall(r"\d[\d,.]*", part) for part in text.split("; ", 1))
        assert mine != theirs, text


def test_a_reason_with_a_direction_reads_as_a_risk():
    g = GROUPS
    cases = [  # group, learner's value, reference, shown
        ("inactivity", 9.0, 2.0, True), ("inactivity", 2.0, 9.0, False),
        ("inactivity", 2.4, 2.2, False),  # both read "2 days": nothing to compare
        ("inactivity", np.nan, 2.0, True),  # "no activity since enrolling"
        ("activity", 3.0, 5.0, True), ("activity", 5.0, 3.0, False),
        ("intent", 1.0, 1.0, False), ("intent", 0.0, 1.0, True),
        ("credential", 149.0, 0.0, True), ("credential", 0.0, 0.0, False),
        ("planned_hours", 3.0, np.nan, True),  # no reference: the model's word stands
        ("deadlines", 2.0, 0.0, True), ("deadlines", 0.0, 1.0, False),
    ]
    for name, value, reference, expected in cases:
        assert bool(shows(g[name], np.array([value]), np.array([reference]))[0]) is expected, name


def test_the_explainer_words_numpy_and_pandas_values_without_nan_or_none():
    from mooc_risk.models.targets import Target
    from mooc_risk.serving.reasons import Explainer

    columns = ["days_since_last_activity", "self_efficacy", "days_enrolled_before_start",
               "credential_cost", "hours_per_week_planned"]
    values = pd.DataFrame({
        "days_since_last_activity": [np.nan, 4.0, 0.2],
        "self_efficacy": pd.array([pd.NA, 2.0, 3.0], dtype="Float64"),
        "days_enrolled_before_start": [np.nan, -3.0, 12.0],  # self-paced, late, early
        "credential_cost": [49.0, np.nan, 0.0],
        "hours_per_week_planned": np.array([2.5, np.nan, 10.0], dtype="float32"),
        "credential_currency": [None, "GBP", None],
    })
    explainer = Explainer(load_catalogue(), columns, Target.DROPOUT,
                          {"days_enrolled_before_start": {0: 14.0}, "self_efficacy": {0: 3.5}})
    days = np.zeros(3, dtype=int)
    table = explainer.top(np.ones((3, len(columns))), 5, values, days)
    texts = [explainer.texts(table, r, values, days)[3] for r in range(table.group.shape[1])]
    words = [t for rank in texts for t in rank if t is not None]
    assert words and not any(re.search(r"\b(nan|None|NA)\b|<NA>", t) for t in words), words
    named = {table.names[j] for j in table.group[0] if j >= 0}
    assert "timing" not in named  # a self-paced learner has no start to enrol before
    assert "enrolled 3 days after the start; learners who finish typically enrolled 14 days before it" \
        in [t for rank in texts for t in rank]


def test_examples_a_course_team_reads():
    g = GROUPS
    assert sentence(g["timing"], -1.0, None, "finish") == "enrolled 1 day after the start"
    assert sentence(g["timing"], 2.0, 10.0, "finish") == (
        "enrolled 2 days before the start; learners who finish typically enrolled 10 days before it")
    assert sentence(g["inactivity"], 0.4, 0.3, "finish") == "no activity for less than a day"
    assert sentence(g["inactivity"], 9.0, 2.0, "finish") == (
        "no activity for 9 days; most learners who finish had been active within 2 days")
    assert sentence(g["credential"], 149.0, None, "finish", currency="USD") == "the credential costs 149 USD"
    assert sentence(g["self_efficacy"], 2.1, 3.6, "earn the credential") == (
        "self-efficacy 2.1 of 5 at enrolment; learners who earn the credential typically reported 3.6 of 5")
    assert sentence(g["usefulness"], None, 3.6, "finish") == "perceived usefulness not reported at enrolment"
    assert sentence(g["planned_hours"], 2.0, 4.5, "finish") == (
        "planned 2 h a week of study; learners who finish planned about 4.5 h a week")


def test_missed_deadlines_are_a_reason_only_where_the_course_has_a_calendar():
    from mooc_risk.models.targets import Target
    from mooc_risk.serving.reasons import Explainer

    columns = ["deadlines_missed", "days_since_last_activity"]
    values = pd.DataFrame({"deadlines_missed": [2.0, np.nan], "days_since_last_activity": [3.0, 3.0]})
    explainer = Explainer(load_catalogue(), columns, Target.DROPOUT, {"deadlines_missed": {0: 0.0}})
    days = np.zeros(2, dtype=int)
    table = explainer.top(np.ones((2, len(columns))), 2, values, days)
    named = [{table.names[j] for j in table.group[row] if j >= 0} for row in range(2)]
    assert "deadlines" in named[0] and "deadlines" not in named[1]  # row 1: no calendar
    first = explainer.texts(table, 0, values, days)[3][0]
    second = explainer.texts(table, 1, values, days)[3][0]
    assert "missed 2 deadlines so far; learners who finish had missed 0 deadlines" in (first, second)
