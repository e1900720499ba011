"""Adapters from public and platform data layouts to the canonical tables (``mooc-risk import``):
OULAD, KDD Cup 2015 and dataedu data sets; Open edX tracking logs, xAPI statements and Caliper
events. Each writes a staged folder that replaces the target only when complete.

May import: ``mooc_risk.features.canonical``, ``mooc_risk.features.constructs`` and the shared
modules.
"""
