"""One frozen Settings object, built at the entry points and passed down.

Values come from ``WARDWISE_*`` environment variables, then an optional TOML file
(``WARDWISE_CONFIG`` or ``./wardwise.toml``), then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

HOME = Path(os.environ.get("WARDWISE_HOME", Path.home() / ".wardwise"))
CACHE = Path(os.environ.get("WARDWISE_CACHE", Path.home() / ".cache" / "wardwise"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARDWISE_", frozen=True, extra="ignore")

    llm_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL (e.g. http://gpu-host:8000/v1). "
        "Unset: start the embedded CPU server.",
    )
    llm_model: str = Field(
        default="qwen2.5-coder-1.5b", description="model name sent to the server"
    )
    llm_api_key: str = "not-needed"
    llm_dialect: str = Field(
        default="openai",
        description="how the server takes JSON-schema output: openai (vLLM, OpenAI) or "
        "llama-cpp (llama-cpp-python); the embedded server is always llama-cpp",
    )
    llm_timeout: float = Field(default=120.0, description="seconds per LLM request")
    agent_mode: str = Field(
        default="route", description="route (schema-constrained routing) or tools (native calls)"
    )
    answer_mode: str = Field(
        default="verdicts",
        description="verdicts (the answer is the tools' verdict sentences, no second model "
        "call) or model (the model writes the answer from the facts, checked)",
    )
    example_bank: bool = Field(
        default=True, description="show the router the nearest labelled example questions"
    )
    max_steps: int = 3
    prompts_dir: Path | None = Field(default=None, description="another copy of prompts/")
    embedded_model: str = Field(default="qwen2.5-coder-1.5b", description="key in agent/models.py")
    embedded_port: int = 8765
    embedded_threads: int = 2
    embedded_ctx: int = 4096
    embedded_prompt_cache_mb: int = Field(
        default=0,
        description="RAM for the embedded server's prompt cache (KV states of earlier prompts, "
        "llama-cpp-python --cache); 0: only the last prompt's prefix is reused",
    )
    embedded_draft_tokens: int = Field(
        default=0,
        description="prompt-lookup speculative decoding in the embedded server: tokens drafted "
        "from the prompt's own n-grams per step (llama-cpp-python --draft_model); 0: off",
    )
    data_dir: Path = HOME / "data"
    index_dir: Path = HOME / "index"
    chroma_url: str | None = Field(
        default=None, description="a Chroma server (`chroma run`) instead of the index_dir folder"
    )
    cache_dir: Path = CACHE
    audit_dir: Path = HOME / "audit"
    audit_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the audit trail (default: SQLite in audit_dir)"
    )
    history_dir: Path = HOME / "history"
    history_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the chat history (conversation text; default: SQLite "
        "in history_dir)",
    )
    history_retention_days: float = Field(
        default=30,
        ge=0,
        description="chat-history turns older than this many days are deleted (at start and "
        "daily while `up`/`serve` run; `wardwise history purge` by hand); 0: kept forever",
    )
    max_concurrent_turns: int | None = Field(
        default=None,
        ge=1,
        description="turns answered at once per model server; the rest wait in a visible "
        "queue (unset: 1 with the embedded model, 8 with WARDWISE_LLM_URL)",
    )
    max_queue_depth: int = Field(
        default=32,
        ge=0,
        description="turns that may wait for a free slot; more are refused at once (HTTP 429)",
    )
    log_dir: Path = Field(default=HOME / "logs", description="wardwise.log (no PHI) goes here")
    log_level: str = Field(default="WARNING", description="level of other log output (stderr)")
    tool_timeout: float = Field(default=60.0, description="seconds a tool may run in a turn")
    plan_time_limit: float = Field(
        default=30.0, description="solver seconds per plan; a stopped search is labelled"
    )
    users_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the users and sessions (default: SQLite users.db in data_dir)",
    )
    session_minutes: float = Field(
        default=30, gt=0, description="a signed-in session ends after this many idle minutes"
    )
    session_max_hours: float = Field(
        default=12, gt=0, description="and in any case this many hours after signing in"
    )
    host: str = "127.0.0.1"
    port: int = 7860
    solver: str = "cbc"  # = tools.allocation.instance.DEFAULT_SOLVER (a test holds them equal)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = os.environ.get("WARDWISE_CONFIG", "wardwise.toml")
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml),
        )
