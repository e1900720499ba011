"""Serving: the BentoML service (``service``, over ``app``), the batch scorer (``batch``), scoring
with reasons and interventions (``scoring``, ``reasons``, YAML tables), the feature store,
per-course API keys, and the serve/predict/keys/ask commands. It reads bundles from the
registry (``mooc_risk.models``) and builds features with the same ``build_features``.

May import: ``mooc_risk.models``, ``mooc_risk.features`` and the shared modules. Never imports
``training`` (a served prediction needs nothing from it) or the CLI root.
"""
