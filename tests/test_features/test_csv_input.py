"""The CSV rules the table imports share (csv_input): one set of blanks and per-source missing
markers, the same in Python and in DuckDB's SQL; rows with the line they start on; headers
checked without showing a record."""


import duckdb
import pytest

from mooc_risk.errors import InputError
from mooc_risk.features.sources import dataedu, kddcup_raw, oulad_values
from mooc_risk.features.sources.csv_input import (
    BLANKS,
    EMPTY,
    blank_row,
    cell,
    cell_sql,
    csv_header,
    csv_records,
    first_line,
    has_text,
    header_names,
    require_columns,
    unique_names,
    with_header,
)

CELLS = ["", " ", "?", " ? ", "NA", "\tNA\r", "11", " 11\r\n", "\x0b11\x0c", "a b", "\xa0x\xa0", "null"]


@pytest.mark.parametrize("missing", [EMPTY, oulad_values.MISSING, dataedu.MISSING])
def test_a_cell_reads_the_same_in_python_and_in_sql(missing):
    con = duckdb.connect()
    for value in CELLS:
        in_sql = con.execute(f"SELECT {cell_sql('$1', missing)}", [value]).fetchone()[0]
        assert in_sql == cell(value, missing), repr(value)


def test_missing_markers_are_the_sources_own():
    assert cell(" ? ", oulad_values.MISSING) is None and cell(" ? ", dataedu.MISSING) == "?"
    assert cell("NA", dataedu.MISSING) is None and cell("NA", oulad_values.MISSING) == "NA"
    assert cell("", EMPTY) is None and cell("NA") == "NA"
    assert BLANKS == " \t\r\n\x0b\x0c"


def test_rows_keep_the_line_they_start_on(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('\ufeffa,b\n\n1,"x\ny"\n , \n2,z\n', newline="")
    assert list(csv_records(path, "a.csv")) == [(1, ["a", "b"]), (3, ["1", "x\ny"]), (5, [" ", " "]),
                                                 (6, ["2", "z"])]
    assert [line for line, _ in csv_records(path, "a.csv", skip=blank_row)] == [1, 3, 6]
    assert csv_header(path, "a.csv") == ["a", "b"]  # the byte-order mark dropped


@pytest.mark.parametrize(("text", "message"), [
    ("", "a.csv: empty file (no header line)"),
    ("a,b\n1,2,3\n", "a.csv line 2: 3 fields where the header has 2"),
    ("a,b\n1\n", "a.csv line 2: 1 fields where the header has 2"),
    ('a,b\n1,"x\n', "a.csv line 2: a quoted field is not closed properly"),
])
def test_unreadable_files_are_named_by_line(tmp_path, text, message):
    path = tmp_path / "a.csv"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        list(csv_records(path, "a.csv"))
    assert str(caught.value) == message


def test_short_rows_may_be_allowed(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1\n1,2,3\n")
    with pytest.raises(InputError, match="line 3: 3 fields"):
        list(csv_records(path, "a.csv", width="at most"))
    assert len(list(csv_records(path, "a.csv", width="any"))) == 3


def test_blank_files(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbf \t\r\n\x0b\x0c")
    assert not has_text(path)
    assert first_line(path) is None
    path.write_bytes(b"\x0b\n a ,\"b\"\n")
    assert has_text(path)
    assert first_line(path) == (["a", "b"], 2)


def test_headers_are_checked_without_showing_a_record():
    assert header_names("f.csv", [" a\t", "b\r", "c", "c"], ["a", "b"]) == ["a", "b", "c", "c"]
    with pytest.raises(InputError, match=r"^f\.csv: column\(s\) 'a' appear more than once in the header$"):
        header_names("f.csv", ["a", " a "], ["a"])
    assert unique_names([" a", "b", "a "]) == [" a", "b", "a .2"]
    with pytest.raises(InputError, match=r"missing column\(s\) 'b'; found 'a', 'x'"):
        require_columns("f.csv", ["a", "x"], ["a", "b"])
    with pytest.raises(InputError) as caught:
        require_columns("f.csv", ["11", "Jane Doe"], ["a", "b"])
    assert "Jane" not in str(caught.value) and "the first line (2 fields) names none of them" in str(caught.value)


def test_an_unquoted_header_shows_only_known_names(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("enrollment_id,alice_x7,C1\n")
    with pytest.raises(InputError) as caught:
        with_header(path, 1, ["enrollment_id", "time"], known=kddcup_raw.KNOWN_COLUMNS)
    assert "found 'enrollment_id', 2 other field(s) (not shown)" in str(caught.value)
    assert "alice" not in str(caught.value)
    path.write_text('\ufeff "Time" ,enrollment_id\n')
    made = with_header(path, 1, ["enrollment_id", "time"])
    assert made.positions == {"enrollment_id": 2, "time": 1} and made.header_line == 1
