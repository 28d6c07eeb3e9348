"""Errors a user can fix. The CLI shows them as one message, without a traceback."""


class UserError(Exception):
    """A problem in the user's recipe, data, model files or command line; the message says what to fix."""

    exit_code = 2  # understudy.cli.exits.USER_ERROR


class StudentBlocked(UserError):
    """`serve` refusing a student whose gates said BLOCK: exits as every BLOCK does."""

    exit_code = 3  # understudy.cli.exits.BLOCK


class GateBlocked(Exception):
    """The run finished but a BLOCK gate failed: the student must not ship."""
