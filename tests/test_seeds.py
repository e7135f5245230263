"""Packaged data files: every line loads, ids are unique and codes are consistent."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pycountry

from newswatch.pipeline.actors import load_actor_patterns

REPO = Path(__file__).resolve().parent.parent
ACTORS = REPO / "pipeline" / "data" / "actors.jsonl"
# Codes that are neither ISO 3166 states nor organisations of the dictionary: Kosovo (user-assigned
# XKX) and CAMEO's international militant groups.
EXTRA_CODES = {"XKX", "IMG"}


def _alias(line: dict) -> str:  # type: ignore[type-arg]
    pattern = line["pattern"]
    if isinstance(pattern, list):
        return "=" + " ".join(t["ORTH"] for t in pattern)
    return str(pattern).lower()


def test_actor_lines_load_and_ids_are_consistent() -> None:
    lines = load_actor_patterns(ACTORS)
    seen: dict[str, tuple[str, str, str]] = {}
    for line in lines:
        if line["type"] == "none":
            continue
        identity = (line["code"], line["name"], line["type"])
        assert seen.setdefault(line["id"], identity) == identity, f"id {line['id']} changes meaning"
    states = {i for i, (_, _, t) in seen.items() if t == "state"}
    organisations = {i for i, (c, _, t) in seen.items() if t == "organisation" and i == c}
    iso = {c.alpha_3 for c in pycountry.countries}
    assert states <= iso | EXTRA_CODES
    assert not organisations & iso, "an organisation code must not be a state's ISO code"
    assert {"RUS", "USA", "UKR", "NATO", "EU", "UN", "OSCE", "WST"} <= states | organisations
    for ident, (code, name, kind) in seen.items():
        assert code in states | organisations | EXTRA_CODES, f"{ident} is coded {code}, which no line defines"
        if kind == "state":
            assert ident == code, f"state {name}: id {ident} must be its code {code}"


def test_every_alias_names_one_actor() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for line in load_actor_patterns(ACTORS):
        owners[_alias(line)].add(line["id"])
    clashes = {alias: ids for alias, ids in owners.items() if len(ids) > 1}
    assert clashes == {}


def test_every_iso_state_has_its_name() -> None:
    names = {line["pattern"] for line in load_actor_patterns(ACTORS)
             if line["type"] == "state" and isinstance(line["pattern"], str)}
    for country in pycountry.countries:
        plain = re.sub(r"\s*\(.*?\)", "", country.name)
        assert plain in names or getattr(country, "common_name", None) in names or "," in plain


def test_actors_jsonl_is_built_from_the_tables() -> None:
    """actors.jsonl is generated: an edit of it alone would be lost at the next build."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_actors.py"), "--check"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr


# -- triggers.jsonl (event extraction) -----------------------------------------------------------

TRIGGERS = REPO / "pipeline" / "data" / "triggers.jsonl"


def test_trigger_lines_load_with_unique_ids_and_valid_labels() -> None:
    import json

    from newswatch.pipeline.extract import load_trigger_patterns
    from newswatch.pipeline.records import EventType

    lines = load_trigger_patterns(TRIGGERS)
    raw = [json.loads(line) for line in TRIGGERS.read_text().splitlines() if line.strip()]
    assert len(lines) == len(raw), "every line of triggers.jsonl is a pattern"
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)), "trigger ids must be unique"
    labels = {line["label"] for line in lines}
    assert labels <= {t.value for t in EventType}
    assert labels == {t.value for t in EventType}, "every event type has at least one trigger"
    for line in lines:
        assert line["pattern"][0]["RIGHT_ID"] == "trigger", f"{line['id']}: the anchor comes first, named 'trigger'"
        assert 1 <= len(line["examples"]) <= 3, f"{line['id']}: one or two examples"
        assert line.get("frame") in (None, "clause"), f"{line['id']}: unknown frame {line.get('frame')!r}"


def test_word_lists_are_exactly_those_the_components_take() -> None:
    """Every list of words.tsv is read by a component, and every list a component reads is there."""
    from dataclasses import fields

    from newswatch.pipeline._roles import RoleWords
    from newswatch.pipeline.actors import ActorWords
    from newswatch.pipeline.extract import load_word_lists

    lists = load_word_lists(REPO / "pipeline" / "data" / "words.tsv")
    wanted = {f.name for f in fields(ActorWords)} | {f.name for f in fields(RoleWords)}
    assert set(lists) == wanted
    assert all(lists.values())
    ActorWords.from_lists(lists)
    RoleWords.from_lists(lists)
