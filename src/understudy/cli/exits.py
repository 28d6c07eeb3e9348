"""The exit codes of every `understudy` command, in one place, so a script reads the same verdict the same way.

0   OK          PASS, WARN (unless --strict), ALLOW, ALLOW_WITH_OBLIGATIONS; the command did its job
1   WARN        a WARN verdict, only where the command was given --strict
2   USER_ERROR  a bad argument, recipe, data or model file; the message says what to fix
3   BLOCK       a BLOCK verdict: the gates, the licence gate, or a BLOCKed student that is not served
4   UNKNOWN     the licence gate could not confirm the terms (rerun distill with --accept-licence-risk)
130 INTERRUPTED stopped with Ctrl-C

docs/cli.md is this table for people; tests/cli/test_exits.py holds the commands to it.
"""

from __future__ import annotations

OK = 0
WARN = 1
USER_ERROR = 2
BLOCK = 3
UNKNOWN = 4
INTERRUPTED = 130

_VERDICTS = {
    "PASS": OK,
    "ALLOW": OK,
    "ALLOW_WITH_OBLIGATIONS": OK,
    "WARN": OK,
    "BLOCK": BLOCK,
    "UNKNOWN": UNKNOWN,
}


def for_verdict(verdict: str, *, strict: bool = False) -> int:
    """The exit code of a gate or licence verdict; --strict makes a WARN fail too."""
    if strict and verdict == "WARN":
        return WARN
    return _VERDICTS[verdict]
