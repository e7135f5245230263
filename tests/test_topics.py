"""Topics: loading topics.toml, and matching events in the context of their article."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.pipeline.errors import TopicError
from newswatch.pipeline.records import Actor, Article, Event, EventType, Extraction
from newswatch.pipeline.settings import DATA_DIR
from newswatch.pipeline.topics import load_topics, match_topics, preview_topics

PACKAGED = DATA_DIR / "topics.toml"
TOPICS = load_topics(PACKAGED)
NATO = Actor("NATO", "NATO", "organisation")
RUS = Actor("Russia", "RUS", "state")
TUR = Actor("Turkey", "TUR", "state")
SWE = Actor("Sweden", "SWE", "state")
UKR = Actor("Ukraine", "UKR", "state")


def _event(sentence: str, content: str | None = None, *, type_: EventType = EventType.DEMAND,
           source: Actor | None = None, target: Actor | None = None, start: int = 0) -> Event:
    return Event(type=type_, source=source, target=target, content=content or sentence,
                 sentence=sentence, start=start, end=start + len(sentence))


def _in_article(title: str, before: str, *events: Event) -> tuple[list[Event], Extraction]:
    """Place events' sentences after `before` in one article and return them re-offset."""
    text, placed = before, []
    for event in events:
        text += " " if text else ""
        placed.append(Event(type=event.type, source=event.source, target=event.target,
                            content=event.content, sentence=event.sentence, start=len(text),
                            end=len(text) + len(event.sentence)))
        text += event.sentence
    article = Article(url="https://example.org/a", title=title, text=text)
    return placed, Extraction(article=article, events=tuple(placed))


def _slugs(nlp, title: str, before: str, event: Event) -> dict[str, tuple[str, ...]]:  # type: ignore[no-untyped-def]
    (placed,), extraction = _in_article(title, before, event)
    (matches,) = match_topics(nlp, TOPICS, [(placed, extraction)])
    return {m.topic: m.words for m in matches}


# ---------------------------------------------------------------------------------------------
# The packaged file


def test_packaged_topics_load_with_unique_slugs_and_nato_enlargement() -> None:
    slugs = [t.slug for t in TOPICS]
    assert len(slugs) == len(set(slugs))
    assert {"nato-enlargement", "security-guarantees", "military-drills-deployments",
            "sanctions"} <= set(slugs)
    for topic in TOPICS:
        assert topic.source == PACKAGED and topic.line > 0
        assert topic.tests.match and topic.tests.no_match, f"{topic.slug} has no tests"


def test_packaged_topics_name_actors_by_the_actor_dictionarys_ids() -> None:
    """Topics and the actor dictionary stay in step: every organisation a topic's patterns
    refer to is an organisation id of actors.jsonl, and every actor a topic names is a
    dictionary code."""
    from newswatch.pipeline.actors import load_actor_patterns

    entries = load_actor_patterns(DATA_DIR / "actors.jsonl")
    organisations = {e["id"] for e in entries if e["type"] == "organisation"}
    codes = {e.get("code") for e in entries}
    known = {code for t in TOPICS for code in t.actors}
    assert known and known <= organisations, sorted(known - organisations)
    assert load_topics(PACKAGED, organisations) == TOPICS
    named = {code for t in TOPICS for code in (*t.actors, *t.require_actors, *t.exclude_actors)}
    assert named <= codes, sorted(named - codes)  # states (RUS) may be required or excluded too


EXAMPLES = [
    (topic.slug, text, expected)
    for topic in TOPICS
    for expected, texts in ((True, topic.tests.match), (False, topic.tests.no_match))
    for text in texts
]


@pytest.mark.parametrize("slug,text,expected", EXAMPLES,
                         ids=[f"{s}-{'match' if e else 'no'}-{i}" for i, (s, _, e) in enumerate(EXAMPLES)])
def test_topic_file_examples(nlp, slug: str, text: str, expected: bool) -> None:  # type: ignore[no-untyped-def]
    """Every `tests.match` text of topics.toml matches its topic; no `tests.no_match` text does."""
    result = dict((t.slug, m) for t, m in preview_topics(nlp, TOPICS, text))[slug]
    assert (result is not None) == expected, (text, result)


def test_running_only_the_pattern_groups_a_sentence_has_words_for_finds_every_match(nlp) -> None:  # type: ignore[no-untyped-def]
    """The word gate skips pattern groups, never a match: on every example sentence of the
    topic file, the gated groups give the same hits (exclusions included) as all groups."""
    from newswatch.pipeline.topics import _analyse, _compile, _hits, _prepare

    compiled = _compile(nlp, tuple(TOPICS))
    texts = [text for _, text, _ in EXAMPLES] + [
        "Putin said NATO must not accept Ukraine and Georgia as members.",
        "The weather in Ankara was mild on Tuesday.",
    ]
    matched = 0
    for doc in map(_prepare, _analyse(nlp, texts)):
        gated = compiled.groups_for(doc)
        assert len(gated) < len(compiled.groups)
        every = _hits(compiled, doc, compiled.groups)
        assert _hits(compiled, doc, gated) == every, doc.text
        matched += bool(every)
    assert matched >= len([e for e in EXAMPLES if e[2]])  # the comparison saw real matches


# ---------------------------------------------------------------------------------------------
# Precision: context, negation and ownership


def test_the_alliance_resolves_from_earlier_in_the_article(nlp) -> None:  # type: ignore[no-untyped-def]
    event = _event("Zelensky asked Western leaders to speed up Ukraine's path into the bloc.",
                   source=UKR)
    nato = _slugs(nlp, "Ukraine presses NATO allies", "Kuleba urged NATO to act.", event)
    assert nato["nato-enlargement"] == ("path into the bloc",)
    eu = _slugs(nlp, "Ukraine presses EU leaders", "Kuleba urged the EU to act.", event)
    assert "nato-enlargement" not in eu


def test_an_eu_enlargement_story_does_not_match_nato_enlargement(nlp) -> None:  # type: ignore[no-untyped-def]
    event = _event("The Commission urged member states to open accession talks with Moldova and "
                   "welcomed the bloc's enlargement.", source=Actor("European Commission", "EU",
                                                                     "organisation"))
    found = _slugs(nlp, "EU enlargement: Moldova talks to open",
                   "The European Union said NATO allies were consulted.", event)
    assert "nato-enlargement" not in found


def test_a_nato_meeting_about_ammunition_does_not_match(nlp) -> None:  # type: ignore[no-untyped-def]
    event = _event("NATO defence ministers urged members to raise ammunition production.",
                   source=NATO)
    assert "nato-enlargement" not in _slugs(nlp, "NATO ministers meet", "", event)


def test_turkey_holding_up_swedens_accession_matches_from_the_headline(nlp) -> None:  # type: ignore[no-untyped-def]
    event = _event("Turkey said it would keep holding up Sweden's accession until Stockholm acts.",
                   source=TUR, target=SWE)
    found = _slugs(nlp, "Erdogan says Sweden must act before Turkey backs its NATO bid", "",
                   event)
    assert found["nato-enlargement"] == ("accession",)


def test_negated_mentions_are_rejected_but_refusals_are_not(nlp) -> None:  # type: ignore[no-untyped-def]
    title = "NATO summit closes"
    absent = _event("The allies did not discuss new members at the summit.", source=NATO)
    assert "nato-enlargement" not in _slugs(nlp, title, "", absent)
    off_agenda = _event("Officials said membership for Ukraine was not on the agenda.",
                        source=NATO)
    assert "nato-enlargement" not in _slugs(nlp, title, "", off_agenda)
    refusal = _event("Hungary said it would not approve the bid this year.",
                     type_=EventType.REJECT, source=Actor("Hungary", "HUN", "state"))
    assert "nato-enlargement" in _slugs(nlp, title, "", refusal)


def test_a_match_inside_another_events_content_is_not_shared(nlp) -> None:  # type: ignore[no-untyped-def]
    """One sentence, two demands: only the one whose content names membership is tagged."""
    sentence = ("Russia published draft pacts demanding NATO deny membership to Ukraine and "
                "roll back its military deployments in Eastern Europe.")
    membership = _event(sentence, "NATO deny membership to Ukraine", source=RUS, target=NATO)
    rollback = _event(sentence, "roll back its military deployments in Eastern Europe",
                      source=RUS, target=NATO)
    (a, b), extraction = _in_article("Russia demands", "", membership, rollback)
    b = Event(type=b.type, source=b.source, target=b.target, content=b.content,
              sentence=b.sentence, start=a.start, end=a.end)
    extraction = Extraction(article=extraction.article, events=(a, b))
    first, second = match_topics(nlp, TOPICS, [(a, extraction), (b, extraction)])
    assert "nato-enlargement" in {m.topic for m in first}
    assert "nato-enlargement" not in {m.topic for m in second}
    assert "military-drills-deployments" in {m.topic for m in second}


def test_sentence_context_counts_when_the_content_is_short(nlp) -> None:  # type: ignore[no-untyped-def]
    sentence = ("Erdogan demanded that Sweden extradite dozens of people before Turkey will "
                "ratify Stockholm's application to join NATO.")
    event = _event(sentence, "extradite dozens of people", source=TUR, target=SWE)
    found = _slugs(nlp, "Erdogan speaks", "", event)
    assert "nato-enlargement" in found
    assert "join NATO" in found["nato-enlargement"]


def test_no_topics_or_no_items() -> None:
    assert match_topics(object(), TOPICS, []) == []  # type: ignore[arg-type]
    event = _event("Russia demanded NATO deny membership to Ukraine.")
    assert match_topics(object(), [], [(event, Extraction(article=Article("u", "t", "x")))]) == [()]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Event filters of a topic


FILTERS = """
[[topic]]
slug = "demands-on-membership"
name = "Demands about membership"
description = "Only demands, only when Russia is not the source, only when NATO is involved."
actors = ["NATO"]
event_types = ["DEMAND"]
require_actors = ["NATO"]
exclude_actors = ["RUS"]
patterns = ["membership"]
"""


@pytest.mark.parametrize("event,expected", [
    (_event("Ukraine urged NATO to grant membership.", source=UKR, target=NATO), True),
    (_event("Ukraine said NATO may grant membership.", type_=EventType.STATEMENT, source=UKR,
            target=NATO), False),
    (_event("Russia urged NATO to deny membership.", source=RUS, target=NATO), False),
    (_event("Ukraine urged its allies to back membership of NATO.", source=UKR), True),
    (_event("Ukraine urged Germany to back its membership.", source=UKR,
            target=Actor("Germany", "DEU", "state")), False),
])
def test_event_types_and_required_and_excluded_actors(nlp, tmp_path: Path, event: Event,  # type: ignore[no-untyped-def]
                                                       expected: bool) -> None:
    path = tmp_path / "topics.toml"
    path.write_text(FILTERS)
    topics = load_topics(path)
    article = Article(url="u", title="NATO", text=event.sentence)
    (found,) = match_topics(nlp, topics, [(event, Extraction(article=article, events=(event,)))])
    assert bool(found) == expected


# ---------------------------------------------------------------------------------------------
# Errors in topics files


def test_a_missing_file_names_the_path_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(TopicError, match=r"nope\.toml: cannot read the topics file.*NEWSWATCH_TOPICS"):
        load_topics(tmp_path / "nope.toml")


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[[topic]]\nslug = "a"\nname = \n')
    with pytest.raises(TopicError, match=r"topics\.toml: not valid TOML: .*line 3"):
        load_topics(path)


def test_every_bad_entry_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text(
        '[organisations.NATO]\nnames = ["NATO"]\n\n'
        '[[topic]]\nslug = "ok"\nname = "Ok"\ndescription = "fine"\npatterns = ["membership"]\n\n'
        '[[topic]]\nslug = "Bad Slug"\nname = "x"\ndescription = "x"\npatterns = ["join {actor}"]\n'
        'colour = "red"\n\n'
        '[[topic]]\nslug = "types"\nname = "x"\ndescription = "x"\npatterns = ["a ... "]\n'
        'event_types = ["PROMISE"]\nactors = ["XYZ"]\n\n'
        '[[topic]]\nslug = "ok"\nname = "Again"\ndescription = "dup"\npatterns = ["x"]\n'
    )
    with pytest.raises(TopicError) as info:
        load_topics(path, organisations={"NATO", "WTO"})
    lines = str(info.value).splitlines()[1:]
    where = f"{path}:"
    assert lines == [
        f"{where}1: the [organisations] table is no longer read: organisations, their names and "
        "generic references ('refer') come from the actor dictionary (actors.jsonl)",
        f"{where}10: topic 'Bad Slug': unknown field 'colour' (fields: actors, channels, "
        "counter_examples, description, event_types, examples, exclude_actors, exclusions, name, "
        "patterns, require_actors, slug, tests)",
        f"{where}10: topic 'Bad Slug': 'slug' must be lowercase words joined by hyphens, like "
        "'nato-enlargement'",
        f"{where}10: topic 'Bad Slug': pattern 'join {{actor}}': '{{actor}}' needs the topic's "
        "'actors'",
        f"{where}17: topic 'types': actor 'XYZ' is not an organisation code of the actor "
        "dictionary (actors.jsonl)",
        f"{where}17: topic 'types': event type 'PROMISE' is not one of DEMAND, REJECT, THREATEN, "
        "PROPOSE, ACCUSE, DENY, STATEMENT",
        f"{where}17: topic 'types': pattern 'a ...': '...' must stand between two words",
        f"{where}25: topic 'ok': slug already used at line 4",
    ]


def test_every_topic_field_is_documented() -> None:
    from newswatch.pipeline.topics import TOPIC_FIELDS

    text = (Path(__file__).resolve().parent.parent / "docs" / "data-files.md").read_text()
    missing = [f for f in sorted(TOPIC_FIELDS) if f"| `{f}` |" not in text]
    assert not missing, f"topic fields missing from docs/data-files.md: {missing}"


# ---------------------------------------------------------------------------------------------
# The topics commands


def test_topics_command_lists_topics_and_their_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from newswatch.cli import app

    monkeypatch.delenv("NEWSWATCH_TOPICS", raising=False)
    result = CliRunner().invoke(app, ["topics"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"topics from {PACKAGED}"
    assert "nato-enlargement" in result.output and "sanctions" in result.output


def test_topics_check_reports_every_bad_entry_and_exits_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from newswatch.cli import app

    path = tmp_path / "t.toml"
    path.write_text('[[topic]]\nslug = "ok-topic"\nname = "n"\ndescription = "d"\npatterns = []\n')
    result = CliRunner().invoke(app, ["topics", "check", str(path)])
    assert result.exit_code == 1
    assert result.stderr == f"{path}:1: topic 'ok-topic': 'patterns' must list at least one pattern\n"
    good = CliRunner().invoke(app, ["topics", "check", str(PACKAGED)])
    assert (good.exit_code, good.output) == (0, f"{PACKAGED}: {len(TOPICS)} topics, no problems\n")


def test_topics_test_shows_the_words_that_matched() -> None:
    from typer.testing import CliRunner

    from newswatch.cli import app

    result = CliRunner().invoke(app, ["topics", "test", "--json",
                                      "Turkey is holding up Sweden's accession to NATO."])
    assert result.exit_code == 0, result.output
    import json

    rows = {r["topic"]: r for r in map(json.loads, result.output.splitlines())}
    nato = rows["nato-enlargement"]
    assert {k: nato[k] for k in ("topic", "match", "words", "by")} == {
        "topic": "nato-enlargement", "match": True, "words": ["accession to NATO"], "by": "pattern"}
    assert nato["example"] in TOPICS[0].examples and nato["score"] > 0.5
    assert rows["sanctions"]["match"] is False
    assert set(rows["sanctions"]) == set(nato)  # every row has the same keys


def test_topics_test_shows_the_nearest_example_of_a_match_by_meaning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from typer.testing import CliRunner

    from newswatch.cli import app

    text = "The allies again declined to name a date for bringing Kyiv in."
    result = CliRunner().invoke(app, ["topics", "test", "--json", "--title", "NATO summit", text])
    assert result.exit_code == 0, result.output
    rows = {r["topic"]: r for r in map(json.loads, result.output.splitlines())}
    nato = rows["nato-enlargement"]
    assert (nato["match"], nato["by"], nato["words"]) == (True, "meaning", [])
    assert nato["example"] in TOPICS[0].examples and nato["score"] >= 0.6
    table = CliRunner().invoke(app, ["topics", "test", "--title", "NATO summit", text])
    assert "nato-enlargement                 match by meaning (nearest example 0." in table.output
    monkeypatch.setenv("NEWSWATCH_EMBEDDING_MODEL", "none")
    off = CliRunner().invoke(app, ["topics", "test", "--json", "--title", "NATO summit", text])
    rows = {r["topic"]: r for r in map(json.loads, off.output.splitlines())}
    assert rows["nato-enlargement"]["match"] is False and rows["nato-enlargement"]["score"] is None


def test_topics_test_uses_the_title_as_context() -> None:
    from typer.testing import CliRunner

    from newswatch.cli import app

    text = "Turkey is holding up Sweden's accession."
    alone = CliRunner().invoke(app, ["topics", "test", text])
    assert "nato-enlargement                 no match" in alone.output
    titled = CliRunner().invoke(app, ["topics", "test", "--title", "Sweden's NATO bid", text])
    assert "nato-enlargement                 match: accession" in titled.output


# ---------------------------------------------------------------------------------------------
# The one-way step: extraction -> topics -> store


def test_tag_topics_fills_one_tuple_of_matches_per_event(nlp) -> None:  # type: ignore[no-untyped-def]
    from newswatch.pipeline.topics import tag_topics

    membership = _event("Russia demanded that NATO deny membership to Ukraine.", source=RUS,
                        target=NATO)
    weather = _event("Russia demanded that the weather stay cold.", source=RUS)
    (a, b), extraction = _in_article("Russia demands", "", membership, weather)
    empty = Extraction(article=Article("u2", "t", "x"))
    tagged, untouched = tag_topics(nlp, TOPICS, [(extraction, ()), (empty, ())])
    assert tagged.events == extraction.events and len(tagged.topics) == 2
    assert "nato-enlargement" in {m.topic for m in tagged.topics_of(a)}
    assert tagged.topics_of(b) == ()
    assert untouched.topics == ()


def test_the_store_step_persists_given_matches_without_a_model(db: str) -> None:
    """The store step takes tagged extractions and no nlp: it runs no matching of its own."""
    import inspect

    from newswatch.db.queries import EventFilters, list_events
    from newswatch.db.session import open_session
    from newswatch.flows._steps import store
    from newswatch.pipeline.records import TopicMatch
    from newswatch.pipeline.settings import Settings

    assert "nlp" not in inspect.signature(store).parameters
    event = _event("Russia demanded that NATO deny membership to Ukraine.", source=RUS, target=NATO)
    (placed,), extraction = _in_article("Russia demands", "", event)
    given = TopicMatch("sanctions", ("a word the matcher would never find",))
    tagged = Extraction(article=extraction.article, events=(placed,), topics=((given,),))
    (outcome,) = store([tagged], Settings(database_url=db, notify=""))
    assert outcome.events_new == 1 and outcome.alerts_raised == 1
    with open_session(db) as session:
        (stored,) = list_events(session, EventFilters())
    assert stored.topics == ["sanctions"]  # what it was given, not what matching would find


def test_nothing_on_the_store_path_reaches_spacy_or_the_matcher() -> None:
    """The store step and the helpers it calls name no model, matcher or spaCy module."""
    import ast

    import newswatch.flows._steps as steps

    tree = ast.parse(Path(steps.__file__).read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    imported: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            imported.update({a.asname or a.name: a.name for a in node.names})
    reached, todo = set(), ["store"]
    names: set[str] = set()
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Name):
                names.add(node.id)
                if node.id in functions:
                    todo.append(node.id)
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names.update(a.name for a in node.names)
                names.add(getattr(node, "module", None) or "")
    assert {"store", "_store_article", "_save_events", "_queue_alerts"} <= reached
    modules = {imported.get(n, "") for n in names}
    bad = {m for m in modules if m.split(".")[0] == "spacy"
           or m.startswith(("newswatch.pipeline.extract", "newswatch.pipeline.actors"))
           or m in ("newswatch.pipeline.topics.match_topics", "newswatch.pipeline.topics.tag_topics")}
    assert not bad and "nlp" not in names and "spacy" not in names, (bad, reached)


def test_compiled_topics_do_not_keep_earlier_pipelines_alive(nlp) -> None:  # type: ignore[no-untyped-def]
    """Bug: compiled topic matchers were cached for the last 8 pipelines; since each flow run
    builds its own, a long `serve` kept up to 8 earlier models in memory."""
    import gc
    import weakref

    from newswatch.pipeline import analysis
    from newswatch.pipeline import topics as topics_module
    from newswatch.pipeline.settings import get_settings

    settings = get_settings()
    loaded = analysis.read_topics(settings)
    earlier = analysis.load_nlp(settings.spacy_model, str(settings.actors), str(settings.triggers))
    topics_module._compile(earlier, loaded)
    ref = weakref.ref(earlier)
    del earlier
    topics_module._compile(nlp, loaded)  # the next run's pipeline
    gc.collect()
    assert ref() is None


# ---------------------------------------------------------------------------------------------
# Meaning: examples, counter-examples, the actor constraint and the previous sentence


@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    from newswatch.pipeline.embed import make_embedder
    from newswatch.pipeline.settings import Settings

    made = make_embedder(Settings().embedding_model)
    assert made is not None
    return made


def _meant(nlp, embedder, title: str, before: str, event: Event) -> dict[str, object]:  # type: ignore[no-untyped-def]
    (placed,), extraction = _in_article(title, before, event)
    (matches,) = match_topics(nlp, TOPICS, [(placed, extraction)], embedder=embedder)
    return {m.topic: m for m in matches}


@pytest.mark.parametrize("slug,text,expected", EXAMPLES,
                         ids=[f"{s}-{'match' if e else 'no'}-{i}" for i, (s, _, e) in enumerate(EXAMPLES)])
def test_topic_file_examples_hold_with_meaning(nlp, embedder, slug: str, text: str,  # type: ignore[no-untyped-def]
                                               expected: bool) -> None:
    """Meaning adds matches, never at the cost of a topic's `tests`."""
    result = dict((t.slug, m) for t, m in preview_topics(nlp, TOPICS, text, embedder=embedder))[slug]
    assert (result is not None) == expected, (text, result)


def test_counter_examples_never_match_by_meaning(nlp, embedder) -> None:  # type: ignore[no-untyped-def]
    topic = TOPICS[0]
    assert topic.slug == "nato-enlargement" and topic.examples and topic.counter_examples
    for text in topic.counter_examples:
        found = dict((t.slug, m) for t, m in preview_topics(nlp, TOPICS, text, title="NATO",
                                                            embedder=embedder))
        assert found["nato-enlargement"] is None or found["nato-enlargement"].words, text


# (title, the sentence before, the event's sentence, its content) that must match by meaning
MEANT = [
    ("Zelensky presses the alliance for a timetable",
     "Zelensky asked NATO for an invitation to join at the summit.",
     "The allies once more declined to say when Kyiv could come in.", ""),
    ("Kremlin warns Helsinki over NATO",
     "The Kremlin spoke on Monday.",
     "Peskov said Finland's entry would have grave consequences and that Moscow would respond "
     "with countermeasures.", "Moscow would respond with countermeasures"),
    ("Turkish lawmakers back Finland's NATO bid",
     "Turkey's parliament voted to approve Finland's application to join NATO on Thursday.",
     "The secretary-general welcomed the vote and urged Budapest to complete its ratification "
     "quickly.", "complete its ratification quickly"),
    ("Russia warns Finland against NATO",
     "Russia warned Finland against joining NATO.",
     "Moscow would answer with military-technical steps, the foreign ministry said.", ""),
]

# ... and that must not: NATO on other matters, EU accession, background mentions
NOT_MEANT = [
    ("Clashes in Kosovo", "NATO's KFOR mission said 30 soldiers were hurt in clashes.",
     "NATO said it would send 500 more troops to Kosovo after the peacekeepers were injured.",
     "send 500 more troops to Kosovo"),
    ("Clashes in Kosovo", "NATO said it would deploy 500 more troops to Kosovo.",
     "The KFOR commander demanded that Serbia pull back its forces from the border.", ""),
    ("EU opens talks with Kyiv", "The European Union agreed to open accession talks with Ukraine.",
     "Orban refused to lift his veto on Kyiv's path to membership.", ""),
    ("EU opens talks with Kyiv", "The European Union agreed to open accession talks with Ukraine.",
     "Hungary demanded that the question be taken off the summit's agenda.", ""),
    ("Finland joined NATO in April", "Finland became a member of NATO in April.",
     "NATO ministers agreed to raise the production of artillery shells.", ""),
    ("Finland joined NATO in April", "Finland became a member of NATO in April.",
     "Stoltenberg called for more air defence systems for Kyiv.", ""),
    ("Arms control", "Russia blamed NATO for the collapse of arms control.",
     "Moscow withdrew its ratification of the nuclear test ban treaty.", ""),
    ("Russia warns the alliance", "NATO held exercises in Estonia.",
     "A Russian official said the alliance's drills and deployments close to Russia posed "
     "unacceptable threats to its security.", ""),
    ("Georgia and NATO", "Georgia has sought NATO membership since 2008.",
     "Tbilisi demanded that Moscow withdraw its troops from Abkhazia.", ""),
]


@pytest.mark.parametrize("title,before,sentence,content", MEANT)
def test_paraphrases_and_continuations_match_by_meaning(nlp, embedder, title: str, before: str,  # type: ignore[no-untyped-def]
                                                        sentence: str, content: str) -> None:
    event = _event(sentence, content or None, source=RUS)
    assert "nato-enlargement" not in _slugs(nlp, title, before, event)  # no pattern's words
    found = _meant(nlp, embedder, title, before, event)
    match = found["nato-enlargement"]
    assert match.words == () and match.example in TOPICS[0].examples  # type: ignore[attr-defined]
    assert match.score >= TOPICS[0].context.meaning.context_threshold  # type: ignore[attr-defined]


@pytest.mark.parametrize("title,before,sentence,content", NOT_MEANT)
def test_near_misses_do_not_match_by_meaning(nlp, embedder, title: str, before: str,  # type: ignore[no-untyped-def]
                                             sentence: str, content: str) -> None:
    event = _event(sentence, content or None)
    assert "nato-enlargement" not in _meant(nlp, embedder, title, before, event)


def test_meaning_needs_the_topics_actor(nlp, embedder) -> None:  # type: ignore[no-untyped-def]
    """A sentence as near the examples as an enlargement sentence, in a story that names only
    the EU, stays out: the actor constraint holds for meaning as for patterns."""
    sentence = "The leaders once more refused to set a date for admitting Ukraine."
    nato = _meant(nlp, embedder, "NATO summit", "NATO leaders met in Vilnius.", _event(sentence))
    assert "nato-enlargement" in nato
    eu = _meant(nlp, embedder, "EU summit", "European Union leaders met in Brussels.",
                _event(sentence))
    assert "nato-enlargement" not in eu
    alone = _meant(nlp, embedder, "Summit", "Leaders met on Tuesday.", _event(sentence))
    assert "nato-enlargement" not in alone


def test_a_sentence_continuing_an_on_topic_event_needs_only_the_context_thresholds(nlp, embedder) -> None:  # type: ignore[no-untyped-def]
    """Bug: a follow-up sentence ("wants Kristersson to visit Budapest before lawmakers vote")
    after a sentence on the topic by its patterns was compared as if it stood alone, and a
    party coded by its state (Fidesz -> HUN) was taken for the organisation it is about."""
    hun, swe = Actor("Hungary", "HUN", "state"), Actor("Sweden", "SWE", "state")
    lead = _event("Orban said his government was moving towards ratifying Sweden's NATO membership.",
                  "was moving towards ratifying Sweden's NATO membership", type_=EventType.STATEMENT,
                  source=hun)
    follow = _event("Orban's Fidesz party has signalled that it wants Swedish Prime Minister Ulf "
                    "Kristersson to visit Budapest before lawmakers vote.",
                    "visit Budapest before lawmakers vote", source=hun, target=swe)
    placed, extraction = _in_article("Hungary and Sweden's bid", "", lead, follow)
    first, second = match_topics(nlp, TOPICS, [(e, extraction) for e in placed], embedder=embedder)
    assert "nato-enlargement" in {m.topic for m in first} and all(m.words for m in first)
    (meant,) = [m for m in second if m.topic == "nato-enlargement"]
    assert meant.words == () and meant.score < TOPICS[0].context.meaning.threshold  # type: ignore[attr-defined]
    # alone, after a sentence on something else, the same sentence stays out
    other = _event("Orban said his government would raise pensions in the spring.", source=hun,
                   type_=EventType.STATEMENT)
    placed, extraction = _in_article("Hungary and Sweden", "", other, follow)
    assert all("nato-enlargement" not in {m.topic for m in ms}
               for ms in match_topics(nlp, TOPICS, [(e, extraction) for e in placed], embedder=embedder))


def test_sanctions_in_passing_do_not_tag_a_later_sentence(nlp, embedder) -> None:  # type: ignore[no-untyped-def]
    event = _event("The African Union demanded that the soldiers return to their barracks.")
    found = _meant(nlp, embedder, "Niger deadline passes",
                   "West African leaders imposed sanctions on Niger last month.", event)
    assert "sanctions" not in found


def test_without_a_model_topics_match_by_patterns_only(nlp) -> None:  # type: ignore[no-untyped-def]
    sentence = "NATO leaders refused to set a date."
    event = _event(sentence, "set a date", type_=EventType.REJECT, source=NATO)
    (placed,), extraction = _in_article("NATO summit", "Kyiv asked to join NATO.", event)
    assert match_topics(nlp, TOPICS, [(placed, extraction)], embedder=None) == [()]


def test_an_article_with_nothing_to_compare_never_embeds(nlp) -> None:  # type: ignore[no-untyped-def]
    """Meaning runs only where the topic's actor constraint holds: a story naming no NATO
    never calls the model (so a run without such a story never loads it)."""

    class Counting:
        calls = 0

        def encode(self, texts):  # type: ignore[no-untyped-def]
            Counting.calls += 1
            raise AssertionError(texts)

    event = _event("Manila urged Beijing to stop firing water cannon at its boats.")
    (placed,), extraction = _in_article("South China Sea", "China's coast guard said it acted.", event)
    assert match_topics(nlp, TOPICS, [(placed, extraction)], embedder=Counting()) == [()]
    assert Counting.calls == 0


@pytest.mark.parametrize("sentence,words", [
    ("Zelensky demanded a time frame for inviting Ukraine into the alliance.",
     "inviting Ukraine into the alliance"),
    ("Lavrov condemned the bloc's push eastwards.", "bloc's push eastwards"),
    ("Pulling Moldova under the alliance's umbrella would be a provocation, Lavrov said.",
     "Pulling Moldova under the alliance's umbrella"),
])
def test_enlargement_paraphrase_patterns(nlp, sentence: str, words: str) -> None:  # type: ignore[no-untyped-def]
    found = _slugs(nlp, "NATO leaders meet", "NATO leaders met in Madrid.", _event(sentence))
    assert words in found["nato-enlargement"]


def test_counter_examples_need_examples_and_meaning_fields_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[meaning]\nthreshold = 2.0\n\n[[topic]]\nslug = "a"\nname = "A"\n'
                    'description = "d"\npatterns = ["x"]\ncounter_examples = ["no"]\n')
    with pytest.raises(TopicError) as info:
        load_topics(path)
    lines = str(info.value).splitlines()[1:]
    assert lines[0].startswith(f"{path}:1: 'meaning.threshold': input should be less than or equal to 1")
    assert lines[1] == f"{path}:4: topic 'a': 'counter_examples' need 'examples': meaning is judged against both"
