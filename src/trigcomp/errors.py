"""The two ways a trigcomp command can fail, mapped to the CLI's exit codes.

A ``UserError`` is a mistake in what the user gave us (exit 2, one line, no traceback);
a ``CheckFailed`` is a check that ran and said no (exit 1): a csim mismatch, a budget exceeded.
"""


class UserError(Exception):
    """Bad input or usage: the message is shown as one line and the exit code is 2."""

    exit_code = 2


class CheckFailed(Exception):
    """A check ran to completion and failed: exit code 1."""

    exit_code = 1
