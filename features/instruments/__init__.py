"""Construct maps of survey instruments (YAML, package data): which items measure which
construct, which are reverse-keyed. Read by ``mooc_risk.features.constructs``."""
