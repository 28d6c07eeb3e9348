"""OpenAI-compatible chat completions: the client (limits, retries, budget) and its recipe settings.

The teachers built on it are in understudy.teachers.api.
"""

from .client import Answer, ApiClient, ApiError, BudgetExhausted, Prices, Spend, default_prices, prices_for  # noqa: F401
from .settings import ApiSettings, Example  # noqa: F401
