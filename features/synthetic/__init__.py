"""A synthetic MOOC in the canonical layout, deterministic by seed (``mooc-risk generate``), and
an Open edX tracking log written from it (tests, benchmarks).

May import: ``mooc_risk.features.constructs`` and the shared modules.
"""
