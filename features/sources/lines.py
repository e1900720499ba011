"""Line numbers for records read by DuckDB's JSON-lines reader, which skips blank lines.

The fast edX reader gives records in file order but not their lines; record ``r`` is on line
``r`` plus the blank lines before it. Only the records that must be reported need a line, so
the file is read only up to the last of them, in large blocks; a block without a blank line
is counted, not split. The blank lines found are written to a file, so memory stays flat.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from mooc_risk.features.sources.inputs import is_gzip

_BLOCK = 1 << 24
# a line that may be blank (whitespace only) starts here
_BLANK_START = (b"\n\n", b"\n\r", b"\n ", b"\n\t", b"\n\x0b", b"\n\x0c")


def blank_lines(path: Path, last: int, out: Path) -> int:
    """Write to ``out``, for each blank line up to record ``last``, how many records precede
    it (one number a line); return how many blank lines were found."""
    opener = gzip.open if is_gzip(path) else open
    blanks = 0
    records, carry = 0, b""
    with opener(path, "rb") as handle, open(out, "w") as found:
        while records < last:
            block = handle.read(_BLOCK)
            if not block:  # the last line may lack its newline
                if carry.strip():
                    records += 1
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            data, carry = data[:cut], data[cut:]
            if not data:
                continue
            if data[:1].isspace() or any(pattern in data for pattern in _BLANK_START):
                for line in data.split(b"\n")[:-1]:
                    if line.strip():
                        records += 1
                    else:
                        found.write(f"{records}\n")
                        blanks += 1
            else:
                records += data.count(b"\n")
    return blanks
