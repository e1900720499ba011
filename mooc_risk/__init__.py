"""mooc-risk: who is drifting away from a MOOC, how likely they are to drop out or to earn the
credential, and why.

The package follows the data, one subpackage per stage, each importing only the stages before
it (the import contract in pyproject.toml, checked by the tests)::

    features   sources → canonical tables → build_features        (imports: the shared modules)
    models     the contract training writes and serving reads     (imports: features)
    training   labels, split, fit, assess, MLflow, gate           (imports: models, features)
    serving    HTTP service and batch scorer on @champion bundles (imports: models, features)
    cli        the ``mooc-risk`` command line                      (imports: every stage; nothing imports it)

Shared by every stage, importing none: ``errors`` (InputError), ``files`` (atomic writes),
``progress`` (progress bars), ``days`` (as-of days), ``settings`` (configuration by concern).

Importing any of it does nothing: no folders, no tracking URIs, no environment reads. Entry
points (a command, the service) build the settings they need.
"""
