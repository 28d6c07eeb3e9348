"""Errors a user can fix. The CLI shows them as one message, without a traceback."""


class UserError(Exception):
    """A problem in the user's recipe, data, model files or command line; the message says what to fix."""


class GateBlocked(Exception):
    """The run finished but a BLOCK gate failed: the student must not ship."""
