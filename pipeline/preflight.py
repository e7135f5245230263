"""Checks a command makes before any Prefect server or model starts.

A missing file, a mistyped model name or a broken topics file found inside a flow run costs a
server start, a model load and a traceback; found here it costs milliseconds and one line.
Nothing here imports spaCy or torch: the checks look for the packages, they do not load them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from newswatch.pipeline.embed import make_embedder, model_path
from newswatch.pipeline.errors import SettingsError, SourceError
from newswatch.pipeline.settings import Settings
from newswatch.pipeline.sources import check_file, check_length, is_url
from newswatch.pipeline.topics import load_topics

DEFAULT_SPACY_MODEL = Settings.model_fields["spacy_model"].default


def check_spacy_model(name: str) -> None:
    """Refuse a spaCy model that is neither an installed package nor a model folder."""
    if Path(name).expanduser().is_dir():
        return
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise SettingsError(
            f"NEWSWATCH_SPACY_MODEL={name!r}: no such installed spaCy package or model folder "
            f"(the default {DEFAULT_SPACY_MODEL} comes with newswatch)"
        )


def check_models(settings: Settings) -> None:
    check_spacy_model(settings.spacy_model)
    if make_embedder(settings.embedding_model) is not None:
        model_path(settings.embedding_model)


def check_data_files(settings: Settings) -> None:
    """The data files a run reads: each must exist, and the topics file must be valid."""
    for name, path in (("NEWSWATCH_ACTORS", settings.actors), ("NEWSWATCH_TRIGGERS", settings.triggers)):
        if not Path(path).is_file():
            raise SettingsError(f"{name}={str(path)!r}: no such file")
    load_topics(settings.topics)


@dataclass(frozen=True)
class CheckedInputs:
    """The inputs worth starting a run for, and one line for each of the others."""

    inputs: tuple[str, ...]
    failures: tuple[str, ...]


def check_inputs(inputs: Sequence[str], max_bytes: int) -> CheckedInputs:
    """Sort article paths and URLs into usable ones and failures, reading nothing.

    URLs are only checked for their form here; whether they answer is the fetch's business.
    """
    good: list[str] = []
    failures: list[str] = []
    for value in inputs:
        try:
            check_length(value)
            if is_url(value):
                _check_url_form(value)
            else:
                check_file(value, max_bytes)
        except SourceError as exc:
            failures.append(str(exc))
        else:
            good.append(value)
    return CheckedInputs(tuple(good), tuple(failures))


def _check_url_form(value: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise SourceError(f"{value}: only http and https URLs can be fetched")
    if not parts.hostname:
        raise SourceError(f"{value}: the URL names no host")
