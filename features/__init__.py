"""Canonical tables, validation and leakage-free as-of features for mooc-risk.

Importing this package does nothing; entry points build what they need.
"""
