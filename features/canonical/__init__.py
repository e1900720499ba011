"""The canonical tables (enrolments, surveys, events, outcomes): their pandera contracts
(``schemas``), the single-scan validation that names the file, column and first bad rows
(``validation``), reading a data folder or in-memory frames (``tables``), and the Ibis engines,
DuckDB by default and PySpark for scale-out (``engine``).

May import: ``mooc_risk.features.constructs`` (a survey's items depend on its instrument) and
the shared modules of ``mooc_risk``. Imported by every stage.
"""
