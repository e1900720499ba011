"""Training: labelled rows under the as-of rule, honest splits (earlier runs train, later runs
test), LightGBM with calibration and a logistic baseline (``fitting``), test metrics by as-of
day and group (``assessment``), MLflow runs and the promotion gate (``publish``), model cards,
and the ``mooc-risk evaluate`` report (``evaluate``). It writes bundles (``mooc_risk.models``).

May import: ``mooc_risk.models``, ``mooc_risk.features`` and the shared modules. Never imports
``serving`` or the CLI root.
"""
