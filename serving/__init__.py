"""Serving: the HTTP service, the batch scorer and the ``mooc-risk`` command line."""
