"""A synthetic MOOC in the canonical layout, deterministic by seed (``mooc-risk generate``)."""
