"""Logs without request values.

BentoML logs every exception of an API call (``log_exception`` in
``bentoml._internal.server.http_app``, called by ``_bentoml_impl.server.app``'s
``api_endpoint_wrapper``) as an error with its traceback. When a ``POST /score`` body fails
validation that is some 24 lines for a client's mistake, and pydantic's ``ValidationError``
quotes each offending value, learner ids included.

``install()`` adds a filter to that logger which turns such a record into one warning line,
the field and the problem without the value::

    invalid request to /score: learners.0.enrolment.enrolled_at: Input should be a valid datetime

A ``ValidationError`` raised by the service's own code (a server fault, not the request's)
stays an error with its traceback, the exception shown as field and problem only.
"""

from __future__ import annotations

import logging
import traceback

from pydantic import ValidationError

from mooc_risk.errors import validation_problems

BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"
PARSING = "from_http_request"  # BentoML's function that reads and validates an API's input


class ValidationErrorLines(logging.Filter):
    """Rewrites BentoML's records of a ``ValidationError`` (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, ValidationError):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        path = args[0] if args else "?"
        problems = _problems(exc)
        if _raised_in(exc, PARSING):
            record.msg, record.args = "invalid request to %s: %s", (path, problems)
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            record.exc_info, record.exc_text = None, None
        else:
            record.exc_text = ("Traceback (most recent call last):\n"
                               + "".join(traceback.format_tb(exc.__traceback__))
                               + f"pydantic ValidationError: {exc.title}: {problems}")
            record.exc_info = None
        return True


def _problems(exc: ValidationError) -> str:
    """The first problem as ``field: problem``, and how many more there are."""
    more = exc.error_count() - 1
    return validation_problems(exc, first_only=True) + (f" (and {more} more)" if more > 0 else "")


def _raised_in(exc: BaseException, function: str) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == function:
            return True
        tb = tb.tb_next
    return False


def install() -> None:
    """Add the filter to BentoML's HTTP app logger (once, however often it is called)."""
    logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, ValidationErrorLines) for f in logger.filters):
        logger.addFilter(ValidationErrorLines())
