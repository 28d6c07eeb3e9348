"""The run engine: one flow of stages over one run folder, for every task."""

from .engine import distill  # noqa: F401
from .folder import STAGES, RunFolder, write_atomic, write_json  # noqa: F401
