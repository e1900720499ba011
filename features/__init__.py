"""Data in: raw sources to canonical tables, and canonical tables to feature rows.

- ``sources/``: adapters from public data sets and platform event logs (``mooc-risk import``);
- ``synthetic/``: a synthetic MOOC in the canonical layout (``mooc-risk generate``);
- ``canonical/``: the canonical tables' contracts, validation and reading, and the engines;
- ``constructs``, ``clickstream``, ``build``: survey construct scores and clickstream
  aggregates as of a day, assembled by ``build_features`` — the one feature path for
  training, serving and batch scoring;
- ``commands``: the CLI commands of this stage and the options all stages share.

May import: the shared modules of ``mooc_risk`` (errors, files, progress, days, settings).
Never imports ``models``, ``training``, ``serving`` or the CLI root.
"""
