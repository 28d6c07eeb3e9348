"""The recipe section of a teacher behind an OpenAI-compatible API (`teacher.api`)."""

from __future__ import annotations

import re
import string
from urllib.parse import urlparse

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..strict import Strict

DEFAULT_TASK = "Classify the text the user sends."
DEFAULT_PROMPT = """{task}

The labels:
{labels}

Answer with {answer_format}. Say nothing else."""
PROMPT_FIELDS = {"task", "labels", "answer_format"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Example(Strict):
    text: str = Field(description="An example text.")
    label: str = Field(description="Its label: one of the teacher's labels.")


class ApiSettings(Strict):
    """How to reach the model, how hard to push it, how much to spend, and how to ask it."""

    # A key pasted where its variable's name belongs must not be echoed by pydantic's error text.
    model_config = ConfigDict(**Strict.model_config, hide_input_in_errors=True)

    base_url: str = Field(
        description="The OpenAI-compatible endpoint up to /v1, e.g. https://api.openai.com/v1 or "
        "http://127.0.0.1:8000/v1 (vLLM, Ollama, llama.cpp server, LM Studio, understudy serve)."
    )
    model: str = Field(description="The model name the endpoint knows, e.g. gpt-4o-mini.")
    api_key_env: str | None = Field(
        None,
        description="NAME of the environment variable holding the API key (never the key "
        "itself: the key stays out of recipes, logs and reports). None: send no key.",
    )
    max_in_flight: int = Field(4, ge=1, le=256, description="Requests in flight at once.")
    requests_per_minute: float | None = Field(
        None, gt=0, description="Rate limit in requests per minute (None: no limit)."
    )
    tokens_per_minute: float | None = Field(
        None,
        gt=0,
        description="Rate limit in tokens per minute, counted on the "
        "estimate made before each request (None: no limit).",
    )
    timeout_s: float = Field(
        60.0, gt=0, description="Seconds to wait for a connection or for the next bytes of an answer."
    )
    connect_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Seconds to wait for a connection to open (at most timeout_s): a dead host fails fast, "
        "a slow answer still gets timeout_s.",
    )
    max_connection_failures: int = Field(
        5,
        ge=1,
        le=1000,
        description="Connections in a row, over all requests, that fail to open (refused, unknown host, connect "
        "timeout) before the run stops sending; answers received are kept and a rerun resumes. 429 and 5xx "
        "answers do not count: they are retried with back-off.",
    )
    max_retries: int = Field(
        6,
        ge=0,
        le=50,
        description="Retries of one request on 429, 5xx, timeouts, dropped "
        "connections and unreadable bodies; then the run stops and a rerun resumes.",
    )
    backoff_s: float = Field(1.0, gt=0, description="First back-off in seconds; doubles with each retry, with jitter.")
    backoff_max_s: float = Field(
        60.0,
        gt=0,
        description="Longest back-off between retries (a longer Retry-After is still honoured, up to 10 minutes).",
    )
    budget_tokens: int | None = Field(
        None,
        ge=1,
        description="Stop before the prompt + completion tokens spent by this run "
        "folder (all reruns together) would pass this.",
    )
    budget_usd: float | None = Field(
        None,
        gt=0,
        description="Stop before the money spent by this run folder (all reruns "
        "together) would pass this many US dollars.",
    )
    price_per_million_input: float | None = Field(
        None,
        ge=0,
        description="USD per million prompt tokens (None: from "
        "understudy's table of defaults, api/prices.yaml; 0 for local servers).",
    )
    price_per_million_output: float | None = Field(
        None, ge=0, description="USD per million completion tokens (None: from the table)."
    )
    temperature: float = Field(
        0.0, ge=0, le=2, description="Sampling temperature. With samples > 1 set it above 0, or every sample agrees."
    )
    max_tokens: int = Field(32, ge=1, description="Most tokens in one classification answer.")
    max_new_tokens: int = Field(256, ge=1, description="Most tokens in one generated text (generation teachers).")
    seed: int | None = Field(None, description="Sent as 'seed' where the server honours it, for repeatable sampling.")
    samples: int = Field(
        1,
        ge=1,
        le=32,
        description="Answers per text when no log-probs are given: the label is the "
        "majority and the class probabilities are the vote shares (the agreement score).",
    )
    use_logprobs: bool = Field(
        True, description="Ask for top log-probs and read class probabilities from them where the server gives them."
    )
    top_logprobs: int = Field(5, ge=1, le=20, description="How many alternatives per token to ask for.")
    json_mode: bool = Field(
        True,
        description='Ask for a JSON object {"label": ...} with response_format where the '
        "server offers it (dropped automatically when the server refuses it).",
    )
    task: str = Field(
        DEFAULT_TASK,
        description="One or two sentences saying what to decide, e.g. 'Decide whether "
        "this review of a food product is great or not.'",
    )
    prompt: str = Field(
        DEFAULT_PROMPT,
        description="The system prompt; {task}, {labels} (the labels with their "
        "descriptions) and {answer_format} are filled in. The text itself is the user message.",
    )
    label_descriptions: dict[str, str] = Field(
        default_factory=dict, description="label -> what it means, shown in the prompt."
    )
    examples: list[Example] = Field(
        default_factory=list,
        description="Few-shot examples, each {text, label}, sent as earlier turns of the conversation.",
    )
    system_prompt: str | None = Field(
        None, description="Generation teachers: a system message sent before each prompt."
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                "base_url must start with http:// or https:// and name a host, e.g. http://127.0.0.1:8000/v1"
            )
        if parsed.username or parsed.password or parsed.query:
            raise ValueError(
                "base_url must not carry a user, a password or a query: put the key in the environment "
                "variable named by api_key_env"
            )
        return value.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _hide_pasted_key(cls, data):
        # pydantic's error text shows the input; when nested in the recipe, hide_input_in_errors does not
        # apply, so a value that is no variable name is swapped for a placeholder before it is judged.
        if (
            isinstance(data, dict)
            and isinstance(data.get("api_key_env"), str)
            and not ENV_NAME.match(data["api_key_env"])
        ):
            data = {**data, "api_key_env": "<hidden: not a variable name>"}
        return data

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # Never echo the value: a pasted key must not reach the error message.
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(
                "api_key_env is the NAME of an environment variable (letters, digits, _), not the key "
                "itself; e.g. api_key_env: OPENAI_API_KEY, then export OPENAI_API_KEY=... in the shell"
            )
        return value

    @field_validator("prompt")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"prompt is not a valid template ({exc}); write literal braces as {{{{ and }}}}") from None
        unknown = fields - PROMPT_FIELDS
        if unknown:
            raise ValueError(
                f"prompt uses unknown placeholders {sorted(unknown)}; the known ones are {sorted(PROMPT_FIELDS)}"
            )
        if "labels" not in fields:
            raise ValueError("prompt must contain {labels}, so the model sees the label set")
        return value

    @model_validator(mode="after")
    def _backoff(self) -> ApiSettings:
        if self.backoff_max_s < self.backoff_s:
            raise ValueError("backoff_max_s must be at least backoff_s")
        return self

    def host(self) -> str:
        """Host, port and path of the endpoint: what the fingerprint and the report name (never a key)."""
        parsed = urlparse(self.base_url)
        return f"{parsed.netloc.lower()}{parsed.path}"

    def is_local(self) -> bool:
        host = (urlparse(self.base_url).hostname or "").lower()
        return host in ("localhost", "::1") or host.startswith("127.")
