"""The exception types a user sees as one line — bad input data (exit 2), a resource that ran
out (exit 1) — and the wording of a validation error."""


class InputError(ValueError):
    """Input data breaks a contract.

    The message names the file, the column and the first offending rows, and is meant to be
    printed to a user as it is (the CLI prints it and exits with code 2, HTTP answers 4xx).
    """


class ResourceError(RuntimeError):
    """The machine ran out of something a step needs (memory under its limit, disk): not bad
    input, so a scheduler may retry it. The message names the limit and how to raise it; the
    CLI prints it and exits with code 1."""


def validation_problems(exc, first_only: bool = False) -> str:
    """A pydantic ``ValidationError`` in a user's words: ``where: what`` per problem (the
    field's dotted path, or "top level"), joined with "; "; with ``first_only``, the first."""
    errors = exc.errors()[:1] if first_only else exc.errors()
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'top level'}: "
                     f"{e['msg'].removeprefix('Value error, ')}" for e in errors)
