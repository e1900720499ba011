"""ISO 8601 timestamp patterns shared by the log sources and the import's checks."""

ZONE = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"  # a zone at the end: Z, +01, +0100, +01:00
TIME_OF_DAY = r"[0-9]{2}:[0-9]{2}"  # a date alone ("2024-01-31") would read its day as an offset
