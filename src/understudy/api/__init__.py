"""OpenAI-compatible chat completions: the client (limits, retries, budget) and its recipe settings.

The teachers built on it are in understudy.teachers.api.
"""

from .client import (  # noqa: F401
    Answer,
    ApiClient,
    ApiError,
    BudgetExhausted,
    EndpointDown,
    Prices,
    Spend,
    default_prices,
    prices_for,
)
from .settings import ApiSettings, Example  # noqa: F401
