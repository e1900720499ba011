"""Adapters from public and platform data layouts to the canonical tables (``mooc-risk import``)."""
