"""Every reason template reads right for any value a feature row can hold (property test)."""

import re

import numpy as np
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


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_reason_with_a_direction_reads_as_a_risk(data):
    name = data.draw(st.sampled_from(sorted(n for n, g in GROUPS.items() if g.worse)))
    spec = GROUPS[name]
    value, reference = data.draw(DOMAINS[spec.unit]), data.draw(DOMAINS[spec.unit])
    shown = bool(shows(spec, np.array([value]), np.array([reference]))[0])
    from mooc_risk.serving.wording import rounded

    v, r = float(rounded(spec, value)), float(rounded(spec, reference))
    assert shown == (v > r if spec.worse == "higher" else v < r)


def test_examples_a_course_team_reads():
    g = GROUPS
    assert sentence(g["timing"], -1.0, None, "finish") == "enrolled 1 day after the start"
    assert sentence(g["timing"], None, None, "finish") == "a self-paced course with no fixed start date"
    assert sentence(g["inactivity"], 0.4, 0.3, "finish") == "no activity for less than a day"
    assert sentence(g["inactivity"], 9.0, 2.0, "finish") == (
        "no activity for 9 days; most learners who finish had been active within 2 days")
    assert sentence(g["credential"], 149.0, None, "finish", currency="USD") == "the credential costs 149 USD"
    assert sentence(g["self_efficacy"], 2.1, 3.6, "earn the credential") == (
        "self-efficacy 2.1 of 5 at enrolment; learners who earn the credential typically reported 3.6 of 5")
    assert sentence(g["usefulness"], None, 3.6, "finish") == "perceived usefulness not reported at enrolment"
    assert sentence(g["planned_hours"], 2.0, 4.5, "finish") == (
        "planned 2 h a week of study; learners who finish planned about 4.5 h a week")
