"""Actor coding: the dictionary over NER, person coding by context, datelines and `actor_of`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import spacy

from newswatch.pipeline.actors import actor_of, load_actor_patterns
from newswatch.pipeline.errors import PatternError
from newswatch.pipeline.extract import load_word_lists
from newswatch.pipeline.records import Actor

DATA = Path(__file__).resolve().parent.parent / "pipeline" / "data"
ACTORS = DATA / "actors.jsonl"
WORDS = {name: sorted(words) for name, words in load_word_lists(DATA / "words.tsv").items()}


def _add_actors(nlp):  # type: ignore[no-untyped-def]
    """Add `newswatch_actors` with the packaged word lists and dictionary."""
    component = nlp.add_pipe("newswatch_actors", config={"words": WORDS})
    component.add_patterns(load_actor_patterns(ACTORS))
    return component


@pytest.fixture(scope="session")
def nlp_actors():  # type: ignore[no-untyped-def]
    """The packaged model with only the actor component added, loaded once per session."""
    from newswatch.pipeline.settings import Settings

    nlp = spacy.load(Settings().spacy_model)
    _add_actors(nlp)
    return nlp


def _codes(doc) -> set[str | None]:  # type: ignore[no-untyped-def]
    return {a.code for a in doc._.actors}


def _head(doc, phrase: str):  # type: ignore[no-untyped-def]
    start = doc.text.index(phrase)
    return doc.char_span(start, start + len(phrase), alignment_mode="expand").root


def _person(doc, name: str) -> Actor:  # type: ignore[no-untyped-def]
    people = {a.name: a for a in doc._.actors if a.type == "person"}
    assert name in people, f"{name} not among {sorted(people)}"
    return people[name]


# -- the dictionary ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Moscow and the Kremlin said the White House and the Pentagon were wrong.", {"RUS", "USA"}),
        ("The U.S. and the UK met Britain's and America's partners in Kiev and Kyiv.", {"USA", "GBR", "UKR"}),
        ("Downing Street and the Elysee backed Ankara, Beijing and Tokyo.", {"GBR", "FRA", "TUR", "CHN", "JPN"}),
        ("Rwandan, Turkish and Palestinian diplomats met Swedes and Poles.", {"RWA", "TUR", "PSE", "SWE", "POL"}),
        ("The North Atlantic Treaty Organization and the European Union wrote to the U.N.",
         {"NATO", "EU", "UN"}),
        ("The Security Council, the OSCE and the IAEA heard from the African Union.",
         {"UN", "OSCE", "IAEA", "AU"}),
        ("Western leaders and the West answered Hamas, Hezbollah and the Taliban.",
         {"WST", "PSE", "LBN", "AFG"}),
        ("The DPRK and the PRC criticised the Democratic People's Republic of Korea's neighbours.",
         {"PRK", "CHN"}),
        ("Brussels said the European Community and the EC would decide.", {"EU"}),
        ("Côte d'Ivoire, Ivory Coast and Cote d'Ivoire are one state.", {"CIV"}),
    ],
)
def test_dictionary_codes_states_and_organisations(nlp_actors, text: str, codes: set[str]) -> None:
    assert codes <= _codes(nlp_actors(text))


def test_actor_names_are_canonical(nlp_actors) -> None:
    doc = nlp_actors("The Kremlin and U.S. officials met NATO envoys.")
    names = {a.code: a.name for a in doc._.actors}
    assert names["RUS"] == "Russia"
    assert names["USA"] == "United States"
    assert names["NATO"] == "NATO"
    assert all(a.type in ("state", "organisation", "person") for a in doc._.actors)


@pytest.mark.parametrize(
    "text",
    [
        "We roasted a turkey and served it on fine china.",
        "Let us know what you think.",
        "Who said that the band played in New Mexico and New Jersey?",
        "The Washington Post ran a story about West Africa.",
    ],
)
def test_words_that_only_look_like_actors_are_not_coded(nlp_actors, text: str) -> None:
    codes = _codes(nlp_actors(text)) - {None}
    assert codes == set(), codes


def test_aliases_glued_to_words_count(nlp_actors) -> None:
    """Regression: "U.S.-led" is one token, so the phrase matcher alone missed the U.S."""
    doc = nlp_actors("The U.S.-led coalition and NATO-member states met.")
    assert {"USA", "NATO"} <= _codes(doc)
    doc = nlp_actors("The US-led coalition met in an anti-war mood.")
    assert _codes(doc) == {"USA"}


def test_dictionary_wins_over_ner_and_is_written_to_ents(nlp_actors) -> None:
    doc = nlp_actors("MOSCOW — Russia on Friday published draft security pacts.")
    first = doc.ents[0]
    assert first.text == "MOSCOW" and first.label_ == "GPE" and first.ent_id_ == "RUS"
    spans = doc.spans["actors"]
    assert spans[0]._.actor == Actor("Russia", "RUS", "state")


def test_headline_in_title_case(nlp_actors) -> None:
    doc = nlp_actors("Kremlin Demands USA, NATO Stay Out Of Ukraine As Beijing Watches")
    assert {"RUS", "USA", "NATO", "UKR", "CHN"} <= _codes(doc)


# -- datelines -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("MOSCOW — The Kremlin said talks would go on.", "RUS"),
        ("KYIV — Ukraine asked for more air defence.", "UKR"),
        ("BEIJING (Reuters) - China said it would respond.", "CHN"),
        ("WASHINGTON, March 3 (AP) - The president spoke.", "USA"),
        ("GENEVA — Diplomats met again.", None),
        ("Russia on Friday published two documents.", None),
    ],
)
def test_dateline(nlp_actors, text: str, code: str | None) -> None:
    dateline = nlp_actors(text)._.dateline
    assert (dateline.code if dateline else None) == code


# -- people --------------------------------------------------------------------------------------


def test_dictionary_people_and_surname_mentions(nlp_actors) -> None:
    doc = nlp_actors("President Vladimir Putin called Joe Biden. Later Biden said Putin was wrong.")
    assert _person(doc, "Vladimir Putin").code == "RUS"
    assert _person(doc, "Joe Biden").code == "USA"
    names = [s._.actor.name for s in doc.spans["actors"] if s.text == "Biden"]
    assert names == ["Joe Biden"]


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("Turkish President Arda Kaplanoglu said the bid would wait.", "Arda Kaplanoglu", "TUR"),
        ("Tomas Lindqvist, Sweden's deputy foreign minister, said talks went well.", "Tomas Lindqvist", "SWE"),
        ("Poland's foreign minister Jan Nowakowski backed the request.", "Jan Nowakowski", "POL"),
        ("NATO Secretary-General Lars Hovland said the door remained open.", "Lars Hovland", "NATO"),
        ("U.N. mediator Pierre Lambert met both sides.", "Pierre Lambert", "UN"),
        ("Chief Palestinian negotiator Omar Haddad said the plan failed.", "Omar Haddad", "PSE"),
        ("Moscow would respond, according to Anatoly Petrenko, Russia's ambassador to the United States.",
         "Anatoly Petrenko", "RUS"),
        ("Chinese Ambassador to Germany Wu Ken said Berlin erred.", "Wu Ken", "CHN"),
        ("Igor Semenov, the U.S. envoy in Kyiv, said the talks failed.", "Igor Semenov", "USA"),
    ],
)
def test_person_coded_by_title_or_apposition(nlp_actors, text: str, name: str, code: str) -> None:
    assert _person(nlp_actors(text), name).code == code


def test_spokesman_coded_by_the_actor_speaking_just_before(nlp_actors) -> None:
    doc = nlp_actors(
        "KYIV — Ukraine asked for help. The Kremlin warned that any step would cross a red line. "
        "Spokesman Ivan Petrov said Russia would respond."
    )
    assert _person(doc, "Ivan Petrov").code == "RUS"


def test_ministry_spokesman_coded_by_the_dateline(nlp_actors) -> None:
    doc = nlp_actors(
        "BEIJING — The talks ended on Thursday.\n"
        "Foreign ministry spokesman Wu Qiang told a regular briefing that the sales must stop."
    )
    assert _person(doc, "Wu Qiang").code == "CHN"


def test_titled_minister_coded_by_dateline_and_surname_linked(nlp_actors) -> None:
    doc = nlp_actors(
        "MOSCOW — Talks resumed on Monday. Deputy Foreign Minister Pyotr Volkonsky said the offer "
        "stood. Volkonsky told reporters he was ready to travel."
    )
    assert _person(doc, "Pyotr Volkonsky").code == "RUS"
    later = [s for s in doc.spans["actors"] if s.text == "Volkonsky"]
    assert later and later[0]._.actor == Actor("Pyotr Volkonsky", "RUS", "person")


def test_head_of_state_coded_by_the_only_state_of_the_sentence(nlp_actors) -> None:
    doc = nlp_actors("Rebels in Ivory Coast dismissed an appeal from President Alain Kouame to disarm.")
    assert _person(doc, "Alain Kouame").code == "CIV"
    doc = nlp_actors("President Ana Lopes met British and French envoys.")
    assert _person(doc, "Ana Lopes").code is None  # two states: no guess


def test_unknown_body_coded_by_its_owner_in_the_spans(nlp_actors) -> None:
    """Regression: "Israel's Cabinet" stayed uncoded in doc.spans, so later "it" had no code."""
    doc = nlp_actors("Norway's Cabinet met on Sunday and approved the plan.")
    bodies = [s._.actor for s in doc.spans["actors"] if s.text == "Cabinet"]
    assert bodies == [Actor("Cabinet", "NOR", "organisation")]


def test_unknown_person_without_context_keeps_name_and_no_code(nlp_actors) -> None:
    doc = nlp_actors("Maria Gonzalez said the talks in Geneva would go ahead.")
    assert _person(doc, "Maria Gonzalez").code is None


# -- actor_of ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase", "code"),
    [
        ("Palestinian officials urged the United States to act.", "Palestinian officials", "PSE"),
        ("The U.S. State Department rejected the request.", "The U.S. State Department", "USA"),
        ("Greece asked its European Community partners to refuse.", "its European Community partners", "EU"),
        ("Russia's deputy foreign minister said talks would go ahead.", "Russia's deputy foreign minister", "RUS"),
        ("The Sudanese government refused to comment.", "The Sudanese government", "SDN"),
        ("Iraqi Kurds sought refuge abroad.", "Iraqi Kurds", "IRQ"),
        ("Bosnian Serbs asked for a truce.", "Bosnian Serbs", "BIH"),
        ("Ethnic Albanians in southern Serbia asked for protection.", "Ethnic Albanians in southern Serbia", "SRB"),
        ("Opposition groups in Kenya demanded new elections.", "Opposition groups in Kenya", "KEN"),
        ("Rebels in Ivory Coast rejected the plan.", "Rebels in Ivory Coast", "CIV"),
        ("Russian troops in Ukraine pulled back.", "Russian troops in Ukraine", "RUS"),
        ("Ankara's Kecioren district council refused the permit.", "Ankara's Kecioren district council", "TUR"),
        ("The Obama administration said China must act.", "The Obama administration", "USA"),
        ("A militant group based in Yemen claimed the attack.", "A militant group based in Yemen", "YEM"),
        ("The PRC demanded that Washington cancel the sale.", "The PRC", "CHN"),
        ("Washington along with its allies rejected the plan.", "Washington", "USA"),
        ("Kuleba's Polish counterpart backed the request.", "Kuleba's Polish counterpart", "POL"),
    ],
)
def test_actor_of_noun_phrases(nlp_actors, text: str, phrase: str, code: str) -> None:
    doc = nlp_actors(text)
    actor = actor_of(_head(doc, phrase))
    assert actor is not None and actor.code == code


def test_actor_of_prefers_the_person_with_the_code_of_the_title(nlp_actors) -> None:
    doc = nlp_actors("Turkish President Recep Tayyip Erdogan said Sweden must act.")
    assert actor_of(_head(doc, "Recep Tayyip Erdogan")) == Actor("Recep Tayyip Erdogan", "TUR", "person")


def test_actor_of_generic_nouns_refer_back(nlp_actors) -> None:
    doc = nlp_actors("Ukraine wants to join NATO soon. The alliance said it would decide later.")
    assert actor_of(_head(doc, "The alliance")) == Actor("NATO", "NATO", "organisation")
    doc = nlp_actors("The European Union met in Brussels. The bloc agreed new sanctions.")
    assert actor_of(_head(doc, "The bloc")).code == "EU"


def test_generic_nouns_as_owners(nlp_actors) -> None:
    doc = nlp_actors("NATO met on Friday. The alliance's secretary-general warned Moscow.")
    assert actor_of(_head(doc, "The alliance's secretary-general")).code == "NATO"
    doc = nlp_actors("NATO met on Friday. Lars Hovland, the alliance's secretary-general, said no.")
    assert _person(doc, "Lars Hovland").code == "NATO"


def test_actor_of_unqualified_government_is_the_datelines(nlp_actors) -> None:
    doc = nlp_actors("ANKARA — The government said on Monday that the bid must wait.")
    assert actor_of(_head(doc, "The government")).code == "TUR"
    doc = nlp_actors("The government said on Monday that the bid must wait.")
    assert actor_of(_head(doc, "The government")) is None


def test_actor_of_unknown_organisation_keeps_its_name(nlp_actors) -> None:
    doc = nlp_actors("The Global Water Forum concluded that donors must give more.")
    actor = actor_of(_head(doc, "The Global Water Forum"))
    assert actor is not None and actor.code is None and "Water Forum" in actor.name


def test_actor_of_nothing(nlp_actors) -> None:
    doc = nlp_actors("The weather was cold on Tuesday.")
    assert actor_of(_head(doc, "The weather")) is None


# -- loading -------------------------------------------------------------------------------------


def test_loading_the_dictionary_is_fast() -> None:
    from newswatch.pipeline.settings import Settings

    fresh = spacy.load(Settings().spacy_model)
    start = time.process_time()  # CPU time: other processes on a busy machine do not count
    patterns = load_actor_patterns(ACTORS)
    fresh.add_pipe("newswatch_actors", config={"words": WORDS}).add_patterns(patterns)
    assert time.process_time() - start < 1.0
    assert len(patterns) > 2000


def test_component_without_a_parser_codes_from_the_dictionary_only() -> None:
    """Regression: on a Doc without a parse, actor_of walked missing dependencies and crashed."""
    blank = spacy.blank("en")
    _add_actors(blank)
    doc = blank("MOSCOW — President Vladimir Putin met Spokesman Ivan Petrov. The alliance spoke.")
    assert doc._.dateline == Actor("Russia", "RUS", "state")
    assert Actor("Vladimir Putin", "RUS", "person") in doc._.actors
    assert [actor_of(t) for t in doc][0] == Actor("Russia", "RUS", "state")
    assert actor_of(doc[-2]) is None


def test_bad_actor_line_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "actors.jsonl"
    good = {"label": "GPE", "pattern": "Moscow", "id": "RUS", "code": "RUS", "name": "Russia", "type": "state"}
    bad = dict(good, type="country")
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(PatternError, match=r"actors.jsonl:2: field 'type'"):
        load_actor_patterns(path)
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(PatternError, match=r"actors.jsonl:1: not valid JSON"):
        load_actor_patterns(path)
    with pytest.raises(PatternError, match="cannot read the actor dictionary"):
        load_actor_patterns(tmp_path / "missing.jsonl")


# -- the SpanRuler, the index on the Doc, the word lists ----------------------------------------


def test_dictionary_matches_are_spacys_span_ruler_with_actor_ids(nlp_actors) -> None:
    """The aliases are matched by spaCy's SpanRuler; each match's id is the actor's id."""
    from spacy.pipeline import SpanRuler

    component = nlp_actors.get_pipe("newswatch_actors")
    assert isinstance(component.ruler, SpanRuler)
    assert {"RUS", "NATO", "vladimir-putin"} <= set(component.ruler.ids)
    doc = nlp_actors("The Kremlin said Moscow would answer.")
    matches = {s.text: s.id_ for s in component.ruler.match(doc)}
    assert matches["The Kremlin"] == "RUS" and matches["Moscow"] == "RUS"
    ents = {e.text: e.ent_id_ for e in doc.ents}
    assert ents["The Kremlin"] == "RUS" and ents["Moscow"] == "RUS"
    assert {s.id_ for s in doc.spans["actors"]} == {"RUS"}


def test_no_module_keeps_a_registry_of_components() -> None:
    """Regression: `actor_of` found its dictionary in a module-level registry keyed by
    `id(nlp.vocab)`; now everything it reads is on the Doc, and no module holds mutable state."""
    import ast

    import newswatch.pipeline.actors as actors

    assert not hasattr(actors, "_RECOGNIZERS")
    mutable = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
    for name in ("actors.py", "_roles.py", "extract.py"):
        tree = ast.parse((DATA.parent / name).read_text(encoding="utf-8"))
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                continue
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                value = node.value
                assert not isinstance(value, mutable), f"{name}:{node.lineno}: module-level container"
                if isinstance(value, ast.Call) and isinstance(value.func, (ast.Name, ast.Attribute)):
                    called = value.func.id if isinstance(value.func, ast.Name) else value.func.attr
                    assert called not in ("dict", "list", "set", "WeakValueDictionary", "defaultdict"), (
                        f"{name}:{node.lineno}: module-level {called}()")


def test_word_lists_are_data_not_literals() -> None:
    """Vocabulary (titles, agent heads, referring nouns...) lives in words.tsv; only short
    grammatical sets (pronouns, prepositions, dependency labels) stay in the code."""
    import ast

    for name in ("actors.py", "_roles.py", "extract.py"):
        tree = ast.parse((DATA.parent / name).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign):
                words = [c.value for c in ast.walk(node.value)
                         if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                text = " ".join(words)
                assert len(text.split()) <= 12, f"{name}:{node.lineno}: a word list in the code"


def test_actor_of_reads_the_doc_only(nlp_actors) -> None:
    """A Doc carries its mentions: a Doc the component has not processed codes nothing, and
    two pipelines over one vocabulary do not see each other's dictionaries."""
    doc = nlp_actors("Russia warned NATO. The alliance answered.")
    assert doc._.actor_index is not None
    assert actor_of(_head(doc, "The alliance")) == Actor("NATO", "NATO", "organisation")
    bare = nlp_actors.make_doc("Russia warned NATO.")
    assert actor_of(bare[0]) is None
    other = spacy.blank("en", vocab=nlp_actors.vocab)
    other.add_pipe("newswatch_actors", config={"words": WORDS}).add_patterns(
        [{"label": "ORG", "pattern": "Acme", "id": "ACME", "code": "ACME", "name": "Acme", "type": "organisation"}])
    assert actor_of(other("Acme spoke.")[0]) == Actor("Acme", "ACME", "organisation")
    assert actor_of(nlp_actors("Acme spoke.")[0]) is None


class _CountingSpans:
    """A sequence of spans that counts how many spans are fetched from it."""

    def __init__(self, spans) -> None:  # type: ignore[no-untyped-def]
        self.spans = list(spans)
        self.fetched = 0

    def __len__(self) -> int:
        return len(self.spans)

    def __getitem__(self, k: int):  # type: ignore[no-untyped-def]
        self.fetched += 1
        return self.spans[k]

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.fetched += len(self.spans)
        return iter(self.spans)


def _span_fetches(nlp, copies: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    import dataclasses

    from newswatch.pipeline._roles import Resolver, RoleWords

    text = " ".join(["Russia's deputy foreign minister Sergei Ryabkov told NATO envoys in Kyiv that "
                     "the alliance must stop. The Ukrainian government and Polish troops answered."] * copies)
    doc = nlp(text)
    counting = _CountingSpans(doc._.actor_index.spans)
    doc._.actor_index = dataclasses.replace(doc._.actor_index, spans=counting)
    for token in doc:
        actor_of(token)
    resolver = Resolver(doc, actor_of, RoleWords.from_lists(WORDS))
    for token in doc:
        resolver.names_actor(token)
        resolver.first_in([token.i], set())
        resolver.preceding(token, None, set())
    return counting.fetched, len(doc)


def test_actor_lookups_stay_linear_in_article_length(nlp_actors) -> None:
    """Regression: `actor_of` copied and scanned every mention of the Doc on each call, so coding
    every token of an article took time quadratic in its length. Lookups now go through the
    token-position index: eight times the text fetches about eight times the spans."""
    one, n_one = _span_fetches(nlp_actors, 1)
    eight, n_eight = _span_fetches(nlp_actors, 8)
    assert n_eight >= 8 * n_one - 8
    assert one > 0
    assert eight <= 8 * one * 1.25, (one, eight)


def test_component_needs_its_word_lists() -> None:
    from newswatch.pipeline.errors import DataFileError

    with pytest.raises(DataFileError, match="word lists missing for newswatch_actors: titles"):
        spacy.blank("en").add_pipe("newswatch_actors")


def test_bad_word_list_line_names_file_and_line(tmp_path: Path) -> None:
    from newswatch.pipeline.errors import DataFileError

    path = tmp_path / "words.tsv"
    path.write_text("# comment\ntitles\tpresident\ntitles president\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"words.tsv:3: a line must be 'list<TAB>word'"):
        load_word_lists(path)
    path.write_text("titles\tPresident\n\nspokes\taide\n", encoding="utf-8")
    assert load_word_lists(path) == {"titles": frozenset({"president"}), "spokes": frozenset({"aide"})}
