"""Event extraction: trigger patterns, roles (source, target, content), filters and streaming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spacy.matcher import DependencyMatcher
from spacy.tokens import Doc
import spacy
from spacy.vocab import Vocab

from newswatch.pipeline.errors import PatternError
from newswatch.pipeline.extract import extract_events, load_trigger_patterns
from newswatch.pipeline.records import Article, Event, EventType

TRIGGERS = Path(__file__).resolve().parent.parent / "pipeline" / "data" / "triggers.jsonl"


def events_of(nlp, text: str, title: str = "News") -> list[Event]:  # type: ignore[no-untyped-def]
    (extraction,) = extract_events(nlp, [Article(url="t.txt", title=title, text=text)])
    return list(extraction.events)


def graded(events: list[Event]) -> list[Event]:
    return [e for e in events if e.type in (EventType.DEMAND, EventType.REJECT, EventType.THREATEN)]


def only(events: list[Event], kind: EventType) -> Event:
    found = [e for e in events if e.type is kind]
    assert len(found) == 1, [(e.type, e.trigger, e.content) for e in events]
    return found[0]


def code(actor) -> str | None:  # type: ignore[no-untyped-def]
    return actor.code if actor is not None else None


# -- regression sentences, one construction each: type, source, target and content -------------

CASES = [
    # (text, type, source, target, words that must be in content, words that must not)
    ("China on Thursday demanded that the United States cancel the arms package for Taiwan.",
     "DEMAND", "CHN", "USA", ["cancel", "arms package"], ["China", "demanded"]),
    ("Germany urged Russia to withdraw its troops from the border.",
     "DEMAND", "DEU", "RUS", ["withdraw", "troops"], ["urged"]),
    ("Kyiv was urged by Brussels to speed up reforms of its courts.",
     "DEMAND", "EU", "UKR", ["speed up reforms"], []),
    ("Poland's foreign minister called for a summit decision before the end of the year.",
     "DEMAND", "POL", None, ["summit decision"], []),
    ("Germany called on Russia to pull back its troops.",
     "DEMAND", "DEU", "RUS", ["pull back"], []),
    ("Beijing also insisted that U.S. lawmakers cancel planned visits to Taipei.",
     "DEMAND", "CHN", "USA", ["cancel planned visits"], []),
    ("Turkish President Recep Tayyip Erdogan said Sweden must act against Kurdish militants.",
     "DEMAND", "TUR", "SWE", ["act against Kurdish militants"], ["must", "said"]),
    ("French President Jacques Chirac issued a stern reminder Saturday to Iraq that it must cooperate fully with UN inspectors.",
     "DEMAND", "FRA", "IRQ", ["cooperate fully"], []),
    ("President Vladimir Putin raised the demand for security guarantees in a video call.",
     "DEMAND", "RUS", None, ["security guarantees"], []),
    ("The State Department rejected the proposal from Moscow.",
     "REJECT", "USA", "RUS", ["proposal"], []),
    ("South Korea has rejected North Korea's demand to sever its alliance with Washington.",
     "REJECT", "KOR", "PRK", ["demand"], []),
    ("Syria says it will not accept any more refugees if war starts in Iraq.",
     "REJECT", "SYR", None, ["refugees"], []),
    ("Hungary will not ratify Sweden's bid until Stockholm acts, Prime Minister Viktor Orban said.",
     "REJECT", "HUN", "SWE", ["bid"], ["ratify"]),
    ("Pakistan has refused to deploy peacekeepers in Iraq.",
     "REJECT", "PAK", "IRQ", ["deploy peacekeepers"], []),
    ("US officials said that lifting the sanctions on Burma is out of the question.",
     "REJECT", "USA", "MMR", ["sanctions"], []),
    ("Iran on Tuesday threatened to cut off electricity to Azerbaijan.",
     "THREATEN", "IRN", "AZE", ["cut off electricity"], []),
    ("The Kremlin warned that any step bringing Ukraine closer to NATO would cross a red line.",
     "THREATEN", "RUS", "UKR", ["red line"], []),
    ("Peru has issued an ultimatum to Ecuador to halt attacks across the border.",
     "THREATEN", "PER", "ECU", ["halt attacks"], []),
    ("China warned Japan against interfering in Taiwan.",
     "THREATEN", "CHN", "JPN", ["interfering in Taiwan"], ["Japan"]),
    ("Israel threatened to ban voting in East Jerusalem if Hamas ran in the election.",
     "THREATEN", "ISR", "PSE", ["ban voting"], []),
    ("Palestinian leaders said they would boycott all official contact with the United States.",
     "THREATEN", "PSE", "USA", ["boycott"], []),
    ("Spokesman Dmitry Peskov said Russia would take adequate measures if NATO moved further east.",
     "THREATEN", "RUS", "NATO", ["adequate measures"], []),
]


@pytest.mark.parametrize("text,kind,source,target,words,absent", CASES, ids=[c[0][:40] for c in CASES])
def test_construction(nlp, text, kind, source, target, words, absent) -> None:  # type: ignore[no-untyped-def]
    event = only(graded(events_of(nlp, text)), EventType(kind))
    assert code(event.source) == source
    assert code(event.target) == target
    for word in words:
        assert word.lower() in event.content.lower(), event.content
    for word in absent:
        assert word not in event.content.split(), event.content
    assert event.content != event.sentence


def test_coordinated_demands_are_separate_events(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ("Russia on Friday published draft security pacts demanding NATO deny membership to Ukraine "
            "and other ex-Soviet countries and to roll back its military deployments in Central and Eastern Europe.")
    demands = [e for e in events_of(nlp, text) if e.type is EventType.DEMAND]
    assert [(code(e.source), code(e.target)) for e in demands] == [("RUS", "NATO"), ("RUS", "NATO")]
    assert demands[0].content == "deny membership to Ukraine and other ex-Soviet countries"
    assert "roll back its military deployments" in demands[1].content
    assert "membership" not in demands[1].content


def test_a_call_on_two_parties_is_one_demand_of_each(nlp) -> None:  # type: ignore[no-untyped-def]
    """Bug: "urged Armenia and Azerbaijan to ..." gave one demand, of the first party only."""
    demands = graded(events_of(nlp, "The European Union urged Armenia and Azerbaijan to refrain from violence."))
    assert [(code(e.source), code(e.target)) for e in demands] == [("EU", "ARM"), ("EU", "AZE")]
    assert {e.content for e in demands} == {"refrain from violence"}
    # the subject of the demanded clause is not an addressee: one demand of both
    (demand,) = graded(events_of(nlp, "Russia demanded that the United States and NATO stop expanding east."))
    assert code(demand.target) == "USA"


def test_a_second_that_clause_is_its_own_event(nlp) -> None:  # type: ignore[no-untyped-def]
    """Bug: "said A, and that B" read B as part of A, so a refusal in B was taken for part of
    the threatened act and dropped."""
    text = ("The juntas in Mali and Burkina Faso said they would treat armed action against Niger as "
            "an act of war, and that they would not enforce the regional bloc's sanctions.")
    events = graded(events_of(nlp, text))
    assert [(e.type, code(e.source)) for e in events] == [(EventType.THREATEN, "MLI"), (EventType.REJECT, "MLI")]
    assert "sanctions" not in events[0].content and "enforce the regional bloc's sanctions" in events[1].content
    demands = graded(events_of(nlp, "Russia demanded that NATO halt its expansion and that the "
                                    "United States withdraw its missiles from Europe."))
    assert [(code(e.source), code(e.target), e.content) for e in demands] == [
        ("RUS", "NATO", "halt its expansion"), ("RUS", "USA", "withdraw its missiles from Europe")]


def test_a_long_article_between_short_ones_keeps_the_order_and_its_events(nlp) -> None:  # type: ignore[no-untyped-def]
    """Long articles go through the model in small batches of their own; the stream stays in
    input order and every article keeps its events."""
    from newswatch.pipeline.extract import PIECE_CHARS, analyse_articles

    short = "Russia demanded that NATO halt its expansion.\n"
    filler = "Officials said the meeting lasted three hours. " * (PIECE_CHARS // 40)
    long_text = filler + "\nTurkey demanded that Sweden extradite the suspects.\n"
    articles = [Article(url=f"{n}.txt", title="News", text=text)
                for n, text in enumerate([short, long_text, short])]
    assert len(long_text) > PIECE_CHARS
    found = [x for x, _ in analyse_articles(nlp, articles, batch_size=64)]
    assert [x.article.url for x in found] == ["0.txt", "1.txt", "2.txt"]
    assert [[code(e.source) for e in graded(x.events)] for x in found] == [["RUS"], ["TUR"], ["RUS"]]


def test_threat_idioms_are_threats(nlp) -> None:  # type: ignore[no-untyped-def]
    for text, source in [
        ("China said it would respond with countermeasures.", "CHN"),
        ("Putin said Russia would crush any aggression.", "RUS"),
        ("The Pentagon said all options are on the table if Iran continues enriching uranium.", "USA"),
        ("China will not cede an inch of its territory, the defence ministry said.", "CHN"),
    ]:
        (event,) = graded(events_of(nlp, text))
        assert (event.type, code(event.source)) == (EventType.THREATEN, source), text
    assert not graded(events_of(nlp, "Russia took countermeasures last year."))


def test_misattached_conjunct_demand_keeps_its_source(nlp) -> None:  # type: ignore[no-untyped-def]
    """The parser hangs "and demand a rollback" under an inner verb; it is still Russia's demand."""
    text = ("Russia published two draft treaties on Friday.\n"
            "The documents also call for a ban on sending warships to areas from where they can strike "
            "each other's territory and demand a rollback on alliance drills near Russia.")
    demands = [e for e in events_of(nlp, text) if e.type is EventType.DEMAND]
    assert {code(e.source) for e in demands} == {"RUS"}
    assert any("ban" in e.content for e in demands)
    assert any("drills" in e.content and "ban" not in e.content for e in demands)


def test_pronoun_and_quote_sources_refer_back(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ("President Volodymyr Zelensky of Ukraine spoke in Kyiv on Monday.\n"
            "On Tuesday he demanded that Germany deliver the air defence systems it pledged.\n"
            '"We call on the allies to set out the dates," Ukrainian Foreign Minister Dmytro Kuleba told reporters.')
    events = graded(events_of(nlp, text))
    delivered = next(e for e in events if "air defence" in e.content)
    assert (code(delivered.source), code(delivered.target)) == ("UKR", "DEU")
    dates = next(e for e in events if "dates" in e.content)
    assert code(dates.source) == "UKR"


def test_or_face_is_a_threat_beside_the_demand(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ('BEIJING — Foreign ministry spokesman Zhao Lijian told a briefing that Washington must '
            '"stop arms sales to Taiwan" or face countermeasures.')
    events = graded(events_of(nlp, text))
    demand = only(events, EventType.DEMAND)
    threat = only(events, EventType.THREATEN)
    assert (code(demand.source), code(demand.target)) == ("CHN", "USA")
    assert "countermeasures" not in demand.content and "arms sales" in demand.content
    assert code(threat.source) == "CHN" and "countermeasures" in threat.content


@pytest.mark.parametrize("text", [
    "The tough demands appear certain to be rejected by the U.S. and its allies.",
    "Russia did not demand that NATO withdraw its forces.",
    "The plan would be rejected by Germany if it came to a vote.",
    "Thousands of students staged demonstrations in Jakarta to demand political reforms.",
    "Demonstrators blocked roads in Algiers demanding that the president resign.",
    "The minister declined to comment on the talks with Russia.",
    "All 30 members must ratify new entrants.",
])
def test_negated_hypothetical_and_protest_statements_are_not_events(nlp, text) -> None:  # type: ignore[no-untyped-def]
    assert graded(events_of(nlp, text)) == []


def test_reported_demand_is_not_also_a_statement(nlp) -> None:  # type: ignore[no-untyped-def]
    events = events_of(nlp, "Russia said on Tuesday that Sudan must return a helicopter captured last week.")
    assert [e.type for e in events] == [EventType.DEMAND]


def test_accused_object_is_the_target_not_the_content(nlp) -> None:  # type: ignore[no-untyped-def]
    """An actor as direct object ("accused Washington of meddling") was taken for the content."""
    event = only(events_of(nlp, "The Foreign Ministry in Beijing accused Washington of meddling."), EventType.ACCUSE)
    assert (code(event.source), code(event.target), event.content) == ("CHN", "USA", "meddling")


def test_plain_statement_is_a_statement(nlp) -> None:  # type: ignore[no-untyped-def]
    event = only(events_of(nlp, "Swedish Prime Minister Ulf Kristersson said his government was implementing the memorandum."),
                 EventType.STATEMENT)
    assert code(event.source) == "SWE"
    assert "implementing the memorandum" in event.content



# -- refusals and threats of unseen news (issue 17): each with its source and target ----------

REFUSALS_AND_THREATS = [
    # (text, type, source, target)
    ("Spain said the conditions set by Morocco were neither reasonable nor feasible.", "REJECT", "ESP", "MAR"),
    ("Seoul's envoy said Pyongyang's terms are not realistic.", "REJECT", "KOR", "PRK"),
    ("Egypt and Jordan presented Hamas with a set of demands. Hamas said the demands were not reasonable.",
     "REJECT", "PSE", "EGY"),
    ("Saudi Arabia handed Qatar a list of demands on Monday. Qatar's reply rejected the list.", "REJECT", "QAT", "SAU"),
    ("Russia demanded that Kazakhstan close the base. Belarus said the demands were unacceptable.", "REJECT", "BLR", "RUS"),
    # the issuer is the one who handed the conditions over, not a pronoun's guess ("its terms")
    ("Egypt handed Hamas a list of conditions on Sunday. Under its terms, Hamas must free the hostages and cut "
     "its ties with Iran. Hamas said the conditions were unrealistic.", "REJECT", "PSE", "EGY"),
    ("Norway said it saw no reason to negotiate with Russia over the border.", "REJECT", "NOR", "RUS"),
    ("Belgrade's chief negotiator said there was nothing to negotiate with Pristina.", "REJECT", "SRB", "XKX"),
    ("Kosovo's prime minister said there would be no negotiations with Belgrade on the matter.", "REJECT", "XKX", "SRB"),
    ("Poland will not ratify the treaty unless Kyiv restores minority rights.", "REJECT", "POL", "UKR"),
    ("Turkey said it would not approve the bid if Sweden did not act against the militants.", "REJECT", "TUR", "SWE"),
    ("The Philippines' National Security Council said the country would never abandon the shoal.", "REJECT", "PHL", None),
    ("On Monday, the military governments of Armenia and Georgia said any incursion would be an act of war. "
     "They also refused to apply the sanctions against the people of Azerbaijan.", "REJECT", "ARM", None),
    ("Venezuelan officials say the country does not recognise the court's jurisdiction.", "REJECT", "VEN", None),
    ("Russia vetoed a draft resolution that would have imposed sanctions on Mali.", "REJECT", "RUS", None),
    ("Armenia and Azerbaijan said they would not apply the sanctions imposed by Moscow.", "REJECT", "ARM", "RUS"),
    ("Armenia and Azerbaijan said any incursion would be an act of war. They also refused to apply "
     "the sanctions against the people of Georgia.", "REJECT", "ARM", None),
    ("Algeria and Tunisia said any military intervention in Libya would be considered a declaration of war "
     "against them.", "THREATEN", "DZA", None),
    ("Sudan and Libya said they would treat an attack on Chad as an act of war.", "THREATEN", "SDN", None),
    ("ECOWAS said it could use force if the junta in Guinea did not step down.", "THREATEN", "ECOWAS", "GIN"),
    ("The African Union gave the rebels until Friday to lay down their arms or risk a military intervention.",
     "THREATEN", "AU", None),
    ('Abu Dhabi\'s minister said Qatar should take the list seriously, "or a divorce will happen".', "THREATEN", "ARE", "QAT"),
    ("Bahrain's foreign minister said the two countries would part ways if Doha ignored the conditions.",
     "THREATEN", "BHR", "QAT"),
    ('"Nothing is off the table, including military action," the Nigerian president told the summit.',
     "THREATEN", "NGA", None),
    ('"No option has been taken off the table," the Israeli defence minister said.', "THREATEN", "ISR", None),
    ("Rome warned that Italy would respond immediately to any attack on its citizens in Tunisia.", "THREATEN", "ITA", None),
]


@pytest.mark.parametrize("text,kind,source,target", REFUSALS_AND_THREATS, ids=[c[0][:40] for c in REFUSALS_AND_THREATS])
def test_refusal_and_threat_constructions(nlp, text, kind, source, target) -> None:  # type: ignore[no-untyped-def]
    event = only(graded(events_of(nlp, text)), EventType(kind))
    assert (code(event.source), code(event.target)) == (source, target)


def test_a_threat_never_targets_its_own_side(nlp) -> None:  # type: ignore[no-untyped-def]
    """Bug: "would respond to any attack on its nationals" made France the target of France's threat."""
    text = ("In Paris, President Emmanuel Macron's office warned that France would respond to any attack "
            "on its nationals or its diplomats.")
    for event in graded(events_of(nlp, text)):
        assert event.source is not None and code(event.target) != code(event.source)


@pytest.mark.parametrize("text", [
    "Norway is the only Nordic country that has not approved the treaty.",
    "Regional leaders said the options were off the table.",
    "There were no negotiations on Monday, the ministry said.",
])
def test_descriptions_are_not_refusals_or_threats(nlp, text) -> None:  # type: ignore[no-untyped-def]
    """A relative clause describing what a subject is ("the only member that has not approved")
    states a fact; options taken off the table and past talks that did not happen threaten nothing."""
    assert graded(events_of(nlp, text)) == []

# -- records, headline and offsets -------------------------------------------------------------


def test_offsets_are_those_of_the_sentence_in_the_article_text(nlp) -> None:  # type: ignore[no-untyped-def]
    text = "MOSCOW — It was cold on Friday.\nRussia demanded that NATO halt its drills near the border."
    (event,) = graded(events_of(nlp, text))
    assert text[event.start:event.end] == event.sentence
    assert event.sentence.startswith("Russia demanded")
    assert event.trigger == "demanded"
    assert event.cameo == "10"


def test_sentence_that_ends_a_paragraph_keeps_no_line_break(nlp) -> None:  # type: ignore[no-untyped-def]
    """The line break after a paragraph belongs to no sentence: not in the mention, not in the span."""
    text = "Russia demanded that NATO halt its drills near the border.\n\nIt was cold on Friday.\n"
    (event,) = graded(events_of(nlp, text))
    assert event.sentence == "Russia demanded that NATO halt its drills near the border."
    assert text[event.start:event.end] == event.sentence


def test_failing_to_agree_targets_only_a_partner_named_with_with(nlp) -> None:  # type: ignore[no-untyped-def]
    """Both sides of "X and Y failed to agree" failed: no target, not the city that hosted the talks."""
    (mutual,) = graded(events_of(nlp, "Serbia and Kosovo failed to agree on the licence plates after talks in Brussels."))
    assert (mutual.type, code(mutual.source), mutual.target) == (EventType.REJECT, "SRB", None)
    (partner,) = graded(events_of(nlp, "Russia failed to reach a deal with Ukraine on grain exports."))
    assert (partner.type, code(partner.source), code(partner.target)) == (EventType.REJECT, "RUS", "UKR")


def test_headline_gives_actors_but_no_events(nlp) -> None:  # type: ignore[no-untyped-def]
    article = Article(url="a.txt", title="China demands Japan halt patrols",
                      text="Officials met in Geneva on Monday to discuss the weather.")
    (extraction,) = extract_events(nlp, [article])
    assert extraction.events == ()
    assert {"CHN", "JPN"} <= {a.code for a in extraction.actors}


def test_article_that_is_only_a_headline_is_read(nlp) -> None:  # type: ignore[no-untyped-def]
    """A one-line file has its only sentence as the headline and an empty body."""
    article = Article(url="one.txt", title="The United States demanded that North Korea forsake its nuclear program.", text="")
    (extraction,) = extract_events(nlp, [article])
    (event,) = graded(list(extraction.events))
    assert (event.type, code(event.source), code(event.target)) == (EventType.DEMAND, "USA", "PRK")


def test_extract_events_streams_in_order(nlp) -> None:  # type: ignore[no-untyped-def]
    articles = [Article(url=f"{n}.txt", title="t", text=f"Germany urged Russia to free prisoner {n}.") for n in range(5)]
    out = list(extract_events(nlp, iter(articles), batch_size=2))
    assert [x.article.url for x in out] == [a.url for a in articles]
    assert all(len(graded(list(x.events))) == 1 for x in out)


# -- the trigger file ---------------------------------------------------------------------------


def test_every_trigger_example_matches_its_pattern(nlp) -> None:  # type: ignore[no-untyped-def]
    matcher = nlp.get_pipe("newswatch_events").matcher
    for entry in load_trigger_patterns(TRIGGERS):
        for example in entry["examples"]:
            doc = nlp(example)
            ids = {nlp.vocab.strings[key] for key, _ in matcher(doc)}
            assert entry["id"] in ids, f"{entry['id']}: {example!r} matched {sorted(ids)}"


def test_every_trigger_example_yields_an_event(nlp) -> None:  # type: ignore[no-untyped-def]
    for entry in load_trigger_patterns(TRIGGERS):
        for example in entry["examples"]:
            assert events_of(nlp, example), f"{entry['id']}: no event from {example!r}"


def _vocab() -> Vocab:
    return spacy.blank("en").vocab  # with the English lexical attributes (LOWER) that patterns use


def _hand_doc(vocab: Vocab, words, heads, deps, pos, lemmas, tags=None) -> Doc:  # type: ignore[no-untyped-def]
    return Doc(vocab, words=words, heads=heads, deps=deps, pos=pos, lemmas=lemmas, tags=tags)


def _matches(entry_id: str, doc: Doc) -> list[dict[str, str]]:
    entry = next(e for e in load_trigger_patterns(TRIGGERS) if e["id"] == entry_id)
    matcher = DependencyMatcher(doc.vocab, validate=True)
    matcher.add(entry_id, [entry["pattern"]])
    names = [node["RIGHT_ID"] for node in entry["pattern"]]
    return [{n: doc[i].text for n, i in zip(names, ids)} for _, ids in matcher(doc)]


def test_call_on_pattern_names_the_target_on_a_hand_built_doc() -> None:
    doc = _hand_doc(_vocab(), ["Germany", "called", "on", "Russia", "to", "leave"],
                    [1, 1, 1, 2, 5, 1], ["nsubj", "ROOT", "prep", "pobj", "aux", "xcomp"],
                    ["PROPN", "VERB", "ADP", "PROPN", "PART", "VERB"], ["Germany", "call", "on", "Russia", "to", "leave"])
    assert _matches("call-on", doc) == [{"trigger": "called", "on": "on", "target": "Russia"}]
    assert _matches("call-for", doc) == []


def test_red_line_and_modal_patterns_on_hand_built_docs() -> None:
    vocab = _vocab()
    doc = _hand_doc(vocab, ["it", "would", "cross", "a", "red", "line"], [2, 2, 2, 5, 5, 2],
                    ["nsubj", "aux", "ROOT", "det", "amod", "dobj"], ["PRON", "AUX", "VERB", "DET", "ADJ", "NOUN"],
                    ["it", "would", "cross", "a", "red", "line"])
    assert _matches("red-line", doc) == [{"trigger": "line", "red": "red"}]
    doc = _hand_doc(vocab, ["Sweden", "must", "act"], [2, 2, 2], ["nsubj", "aux", "ROOT"], ["PROPN", "AUX", "VERB"],
                    ["Sweden", "must", "act"], ["NNP", "MD", "VB"])
    assert _matches("modal-must", doc) == [{"trigger": "must", "content": "act"}]


def test_refuse_pattern_leaves_out_declining_to_comment() -> None:
    vocab = _vocab()
    words = ["He", "declined", "to", "comment"]
    doc = _hand_doc(vocab, words, [1, 1, 3, 1], ["nsubj", "ROOT", "aux", "xcomp"], ["PRON", "VERB", "PART", "VERB"],
                    ["he", "decline", "to", "comment"])
    assert _matches("refuse-to", doc) == []
    doc = _hand_doc(vocab, ["He", "declined", "to", "resign"], [1, 1, 3, 1], ["nsubj", "ROOT", "aux", "xcomp"],
                    ["PRON", "VERB", "PART", "VERB"], ["he", "decline", "to", "resign"])
    assert _matches("refuse-to", doc) == [{"trigger": "declined", "content": "resign"}]


# -- load_trigger_patterns errors ------------------------------------------------------------------

GOOD = {"id": "x", "label": "DEMAND", "pattern": [{"RIGHT_ID": "trigger", "RIGHT_ATTRS": {"LEMMA": "demand"}}],
        "examples": ["Russia demanded talks."]}


@pytest.mark.parametrize("line,message", [
    ("{not json", "not valid JSON"),
    (json.dumps({**GOOD, "id": "y", "label": "DEMANDS"}), "field 'label': 'DEMANDS' is not one of"),
    (json.dumps({k: v for k, v in {**GOOD, "id": "y"}.items() if k != "examples"}), "field 'examples' is missing"),
    (json.dumps({**GOOD, "id": "y", "examples": []}), "field 'examples' must be"),
    (json.dumps({**GOOD, "id": "y", "pattern": [{"RIGHT_ID": "trigger", "RIGHT_ATTRS": {"LEMA": "demand"}}]}), "field 'pattern'"),
    (json.dumps({**GOOD, "id": "y", "pattern": [GOOD["pattern"][0], {"LEFT_ID": "nope", "REL_OP": ">", "RIGHT_ID": "t",
                                                          "RIGHT_ATTRS": {}}]}), "field 'pattern': node 1"),
])
def test_bad_trigger_line_names_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "triggers.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(PatternError) as info:
        load_trigger_patterns(path)
    assert str(info.value).startswith(f"{path}:2: ")
    assert message in str(info.value)


def test_duplicate_trigger_id_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "triggers.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n")
    with pytest.raises(PatternError, match=r":2: field 'id': 'x' already used on line 1"):
        load_trigger_patterns(path)


def test_missing_trigger_file_is_a_pattern_error(tmp_path: Path) -> None:
    with pytest.raises(PatternError, match="cannot read the trigger patterns"):
        load_trigger_patterns(tmp_path / "none.jsonl")


# -- demands of issue 17: lists, ultimatums, obligations, sources that refer back ------------------


def demands_of(nlp, text: str, title: str = "News") -> list[tuple[str | None, str | None, str]]:  # type: ignore[no-untyped-def]
    return [(code(e.source), code(e.target), e.content) for e in events_of(nlp, text, title)
            if e.type is EventType.DEMAND]


@pytest.mark.parametrize("text", [
    "SEOUL — South Korea set out its conditions for talks with North Korea: stop the missile tests, "
    "end the artillery drills near the border and pull out of the demilitarised zone.",
    "SEOUL — South Korea handed North Korea a list of demands on Thursday. The list requires Pyongyang to: "
    "stop the missile tests; end the artillery drills near the border; pull out of the demilitarised zone.",
    "SEOUL — South Korea presented North Korea with three demands on Monday. The demands include:\n"
    "- Stop the missile tests.\n- End the artillery drills near the border.\n- Pull out of the demilitarised zone.\n"
    "Officials in Pyongyang did not comment.",
])
def test_each_item_of_an_enumerated_list_is_a_demand_of_the_announcer(nlp, text) -> None:  # type: ignore[no-untyped-def]
    """Bug: a list of conditions after a colon gave one garbled demand, or none."""
    demands = demands_of(nlp, text)
    assert [(s, t) for s, t, _ in demands] == [("KOR", "PRK")] * 3, demands
    contents = [c for _, _, c in demands]
    assert contents[0].lower() == "stop the missile tests"
    assert "artillery drills" in contents[1] and "demilitarised zone" in contents[2]


def test_a_colon_before_a_quote_or_names_is_no_list(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ("The four states named their partners: Egypt, Bahrain and Jordan. "
            "The minister told reporters: we will decide next week.")
    assert demands_of(nlp, text) == []


@pytest.mark.parametrize("text,source,target,words", [
    ("The Arab League gave Israel two weeks to lift the blockade of the port.", "ARL", "ISR", "lift the blockade"),
    ("ABUJA — West African leaders gave the junta in Conakry six months to set an election date.",
     "ECOWAS", "GIN", "set an election date"),
    ("Washington gave Tehran until the end of the month to respond to the offer.", "USA", "IRN", "respond"),
    ("The African Union set Mali a deadline of 30 days to hold elections.", "AU", "MLI", "hold elections"),
    ("The Organisation of American States said Venezuela has until Friday to release the opposition leaders.",
     "OAS", "VEN", "release the opposition leaders"),
])
def test_ultimatums_and_deadlines_are_demands(nlp, text, source, target, words) -> None:  # type: ignore[no-untyped-def]
    ((s, t, content),) = demands_of(nlp, text)
    assert (s, t) == (source, target)
    assert words in content


def test_a_speech_is_no_ultimatum(nlp) -> None:  # type: ignore[no-untyped-def]
    assert demands_of(nlp, "The prime minister gave a speech last week to rally support for the reform.") == []
    assert demands_of(nlp, "The president told reporters to expect an announcement on Monday.") == []


@pytest.mark.parametrize("text,source,target,words", [
    ("The European Union told Belgrade to scale down its troop presence near the boundary.", "EU", "SRB", "scale down"),
    ("The African Union directed Sudan's generals to hand power to a civilian government.", "AU", "SDN", "hand power"),
    ("Kosovo had been asked to postpone the takeover of the town halls, a senior EU diplomat said.",
     "EU", "XKX", "postpone the takeover"),
    ("The Kremlin insisted that Kyiv must withdraw its forces from the four regions.", "RUS", "UKR", "withdraw its forces"),
    ("On Monday, Erdogan had insisted that the European Union first reopen the way for Turkey to join the bloc.",
     "TUR", "EU", "reopen the way"),
    ("Lukashenko, who had demanded that Poland reopen the border crossings, said he would not wait.",
     "BLR", "POL", "reopen the border crossings"),
    ("The Chinese foreign ministry said its navy had acted lawfully at the reef, and it urged Hanoi to "
     "withdraw its fishing fleet from the area.", "CHN", "VNM", "withdraw its fishing fleet"),
    ("The United States said the use of water cannon was reckless and called on Beijing to stop "
     "harassing Philippine vessels.", "USA", "CHN", "stop harassing"),
    ("A delegation of British lawmakers on Monday urged Serbia to recognise the election result.",
     "GBR", "SRB", "recognise the election result"),
    ("Serbia's foreign minister said Kosovo has to hand over the suspects.", "SRB", "XKX", "hand over the suspects"),
])
def test_obligations_and_sources_that_refer_back(nlp, text, source, target, words) -> None:  # type: ignore[no-untyped-def]
    """Bug: these demands had no event or no source (a relative or conjunct pronoun, a passive
    without agent, a conjunct misattached to a reported clause, "On Monday" read as "insist on")."""
    ((s, t, content),) = demands_of(nlp, text)
    assert (s, t) == (source, target)
    assert words in content


def test_an_agentless_obligation_belongs_to_the_side_demanding(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ("DUBAI — Saudi Arabia and its allies have demanded that Qatar shut down its broadcaster.\n"
            "The bloc further wants Qatar to pay compensation for the damage.\n"
            "Doha is also required to expel members of the Revolutionary Guard and to hand over wanted individuals.")
    demands = demands_of(nlp, text)
    assert [(s, t) for s, t, _ in demands] == [("SAU", "QAT")] * 4, demands
    assert "expel members" in demands[2][2] and "hand over" in demands[3][2]
    assert demands_of(nlp, "Companies are required to register with the ministry.") == []


def test_obligations_under_one_trigger_are_one_event_each(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ("Moscow published a draft treaty that would bind the alliance to halt its eastward expansion "
            "and to promise never to admit Georgia.")
    demands = demands_of(nlp, text)
    assert [s for s, _, _ in demands] == ["RUS", "RUS"]
    assert "halt its eastward expansion" in demands[0][2] and "never to admit Georgia" in demands[1][2]


def test_a_regional_bloc_refers_back_and_a_party_speaks_for_its_state(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ("ABUJA — The Economic Community of West African States met on Sunday.\n"
            "The regional bloc demanded that the junta in Niamey free the detained president.")
    assert [(s, t) for s, t, _ in demands_of(nlp, text)] == [("ECOWAS", "NER")]
    text = "Orban's Fidesz party has signalled that it wants Swedish Prime Minister Ulf Kristersson to visit Budapest."
    assert [(s, t) for s, t, _ in demands_of(nlp, text)] == [("HUN", "SWE")]


@pytest.mark.parametrize("text", [
    "Orban said his government backed Sweden's membership and would urge parliament to approve it soon.",
    "The Philippines has not asked Washington to invoke the defence treaty, the foreign secretary said.",
    '"If such an arrangement ever existed, I rescind it," the president said of the deal with Beijing.',
    "Beijing denied that it had promised Manila to tow away the ship.",
])
def test_own_parliament_negation_hypothesis_and_denial_are_no_demands(nlp, text) -> None:  # type: ignore[no-untyped-def]
    assert demands_of(nlp, text) == []


def test_a_junta_is_the_state_it_seized_and_members_are_no_unknown_addressee(nlp) -> None:  # type: ignore[no-untyped-def]
    """Bug: "gave the soldiers who seized power in Niger one week to ..." and "directed member
    states to ..." were dropped as addressed to someone no actor codes."""
    text = "ABUJA — West African leaders gave the officers who took power in Guinea one month to free the detained ministers."
    assert [(s, t) for s, t, _ in demands_of(nlp, text)] == [("ECOWAS", "GIN")]
    text = ("ABUJA — The Economic Community of West African States met on Thursday. Nigerian President Bola Tinubu "
            "told the summit that no option was ruled out.\n"
            "In their final communique, the leaders directed member states to freeze the assets of the junta in Bamako.")
    assert [(s, t) for s, t, _ in demands_of(nlp, text)] == [("ECOWAS", None)]  # the leaders are no one person


def test_a_document_frame_and_a_passive_demanded_clause(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ("DUBAI — Saudi Arabia and its allies have demanded that Qatar shut down its broadcaster.\n"
            "Under their terms, Doha must also expel members of the Revolutionary Guard.\n"
            "According to the list, Qatar must pay compensation within a year.")
    demands = demands_of(nlp, text)
    assert [(s, t) for s, t, _ in demands] == [("SAU", "QAT")] * 3
    assert demands[1][2] == "also expel members of the Revolutionary Guard"
    assert demands_of(nlp, "Under the new rules, drivers must carry a permit.") == []
    ((s, t, content),) = demands_of(nlp, "Lukashenko demanded that Poland's complaint be withdrawn from the agenda.")
    assert (s, t) == ("BLR", None)  # what is to be withdrawn is no addressee


def test_a_leaders_parliament_is_his_own_whatever_the_dateline(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ("STOCKHOLM — Sweden is waiting for Hungary.\nOrban said he had assured Stoltenberg that his government "
            "supported Sweden's membership and would urge parliament to approve it soon.")
    assert demands_of(nlp, text) == []


def test_a_list_of_acts_named_by_nouns_and_the_demand_before_the_colon_stays(nlp) -> None:  # type: ignore[no-untyped-def]
    text = ("CAIRO — Egypt set out its conditions for a deal with Israel: an immediate ceasefire, "
            "the release of the hostages and the withdrawal of the troops from the border.")
    demands = demands_of(nlp, text)
    assert [c for _, _, c in demands] == ["an immediate ceasefire", "the release of the hostages",
                                          "the withdrawal of the troops from the border"]
    assert {s for s, _, _ in demands} == {"EGY"}
    text = ("DUBAI — Saudi Arabia and three allies handed Qatar a list of demands. The list requires Doha "
            "to: close the broadcaster; expel the guards.")
    assert [(s, t) for s, t, _ in demands_of(nlp, text)] == [("SAU", "QAT")] * 2
    text = "Russia demanded security guarantees, and Lavrov listed them: stop NATO expansion, withdraw forces from Romania."
    assert [c for _, _, c in demands_of(nlp, text)] == [
        "security guarantees", "stop NATO expansion", "withdraw forces from Romania"]


def test_loading_the_model_does_not_import_pytorch() -> None:
    """thinc imports PyTorch whenever it is installed: 1.1 s on every command that loads the
    model, which never uses it. It stays out, and remains importable for code that needs it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from newswatch.pipeline.analysis import load_nlp\n"
        "from newswatch.pipeline.settings import get_settings\n"
        "s = get_settings()\n"
        "nlp = load_nlp(s.spacy_model, str(s.actors), str(s.triggers))\n"
        "doc = nlp('Moscow demanded that NATO halt its expansion.')\n"
        "print('torch' in sys.modules, len(doc.ents) > 0)\n"
        "import torch\n"
        "print(torch.tensor([1.0]).sum().item())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "1.0"], out.stderr[-2000:]
