"""The model contract: what training writes and serving reads.

- ``targets``: the targets (dropout, certification) with their label, risk direction and
  registered model name — defined here once;
- ``bundle``: the fitted estimator with typed, versioned metadata (feature spec, as-of days,
  target, risk bands, reference values for reasons), saved and loaded as an MLflow model;
- ``estimators``, ``horizons``, ``contributions``: the estimator's input frame and probability,
  routing each row to its as-of day's model, and TreeSHAP contributions (``pred_contrib``);
- ``registry``: registered versions, ``@champion``/``@challenger`` aliases, loading a bundle;
- ``dropout.yaml``, ``certification.yaml``: the shipped training configs (package data).

May import: ``mooc_risk.features`` (the feature spec) and the shared modules. Never imports
``training`` or ``serving``.
"""
