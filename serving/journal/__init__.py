"""The intervention log and the feedback on predictions, in a SQL database (``Journal``)."""
