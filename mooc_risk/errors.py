"""The one exception type for bad input data."""


class InputError(ValueError):
    """Input data breaks a contract.

    The message names the file, the column and the first offending rows, and is meant to be
    printed to a user as it is (the CLI prints it and exits with code 2, HTTP answers 4xx).
    """
