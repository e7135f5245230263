"""Deduplication: canonical URLs, exact and near-duplicate articles, event identity (pipeline/dedup.py)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest

from newswatch.pipeline.dedup import (
    BANDS,
    BUCKET_DAYS,
    SUBSTANCE_THRESHOLD,
    KnownEvent,
    band_bucket,
    band_buckets_near,
    band_keys,
    canonicalize_url,
    event_key,
    event_substance,
    find_duplicates,
    fingerprint,
    match_event,
    assign_pairs,
    content_names,
    content_similarity,
    embed_for_matching,
    event_meaning_text,
    identity_score,
    inherit_events,
    known_meaning_text,
    match_events,
    meaning_text,
    shares_concept,
    story_articles,
    substance_similarity,
    text_hash,
)
from newswatch.pipeline.embed import to_bytes
from newswatch.pipeline.records import Actor, Article, Event, EventType

# --------------------------------------------------------------------------------------------
# URLs


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://www.example.com/world/story-1?utm_source=tw&utm_medium=social#comments",
         "https://example.com/world/story-1"),
        ("http://m.example.com/world/story-1/", "https://example.com/world/story-1"),
        ("https://amp.example.com/world/story-1", "https://example.com/world/story-1"),
        ("https://example.com/world/story-1/amp", "https://example.com/world/story-1"),
        ("https://example.com/amp/world/story-1", "https://example.com/world/story-1"),
        ("https://example.com/world/story-1.amp.html", "https://example.com/world/story-1.html"),
        ("https://EXAMPLE.com:443/a?b=2&a=1&fbclid=xyz", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?id=7&ref=rss", "https://example.com/a?id=7"),
    ],
)
def test_canonicalize_url_removes_tracking_and_variants(url: str, canonical: str) -> None:
    assert canonicalize_url(url) == canonical


def test_canonicalize_url_keeps_parameters_that_choose_the_page() -> None:
    assert canonicalize_url("https://example.com/story?id=1") != canonicalize_url("https://example.com/story?id=2")


def test_canonicalize_url_leaves_local_paths() -> None:
    assert canonicalize_url("seeds/000_30228fdb78730024.txt") == "seeds/000_30228fdb78730024.txt"


# --------------------------------------------------------------------------------------------
# Articles

WIRE = (
    "KYIV — Ukraine's foreign minister on Tuesday urged NATO to give Kyiv a firm timetable for "
    "joining the alliance, saying vague promises only encourage Moscow.\n"
    "\"We call on the allies to stop hiding behind the word 'eventually' and set out the steps "
    "and the dates,\" the minister told reporters after meeting his Polish counterpart in Warsaw.\n"
    "The president has repeatedly asked Western leaders to speed up Ukraine's path into the bloc, "
    "and on Monday he demanded that Germany deliver the air defence systems it pledged in spring.\n"
    "The alliance's secretary-general said the door to membership remained open but that the "
    "allies alone would decide when Ukraine was ready.\n"
    "The Kremlin warned that any step bringing Ukraine closer to the alliance would cross a red "
    "line, and said Russia would take adequate measures if infrastructure moved further east.\n"
    "Poland's foreign minister backed the request and called for a summit decision before the "
    "end of the year.\n"
)
#: The same wire story as an outlet reprints it: last paragraph cut, a newsletter line added,
#: and one word changed.
SYNDICATED = (
    WIRE.rsplit("Poland's", 1)[0].replace("Tuesday", "Tuesday morning")
    + "Sign up for our morning newsletter to get the day's top stories.\n"
)
#: A different story about the same topic, the same day.
SAME_TOPIC = (
    "WARSAW — Poland's foreign minister said on Tuesday that NATO should set a date for a "
    "summit decision on Ukraine's membership before the end of the year.\n"
    "He said the alliance had promised Kyiv a path to membership in 2008 and that the promise "
    "had to be kept, adding that Moscow had no say over who joins.\n"
    "Ukraine's foreign minister, on a visit to Warsaw, thanked Poland for its support and "
    "repeated his call for a firm timetable.\n"
)


def _article(text: str, url: str = "a.txt") -> Article:
    return Article(url=url, title="headline", text=text)


def test_text_hash_ignores_layout_but_not_words() -> None:
    assert text_hash("Russia  demanded\n“guarantees”.") == text_hash("russia demanded \"guarantees\"")
    assert text_hash("Russia demanded guarantees") != text_hash("Russia rejected guarantees")


def test_syndicated_copy_is_a_near_duplicate() -> None:
    original = fingerprint(_article(WIRE, "wire.txt"))
    copy = fingerprint(_article(SYNDICATED, "outlet.txt"))
    assert set(original.bands) & set(copy.bands), "a copy must share an LSH band with its original"
    [match] = find_duplicates(copy, [(1, original)])
    assert (match.key, match.reason) == (1, "near")


def test_copy_cut_to_half_is_a_near_duplicate_by_containment() -> None:
    part = "\n".join(WIRE.splitlines()[:2])
    [match] = find_duplicates(fingerprint(_article(part, "b.txt")), [(1, fingerprint(_article(WIRE)))])
    assert match.similarity < 0.5 and match.reason == "near"


def test_different_story_on_the_same_topic_is_not_a_duplicate() -> None:
    original = fingerprint(_article(WIRE, "wire.txt"))
    other = fingerprint(_article(SAME_TOPIC, "other.txt"))
    assert find_duplicates(other, [(1, original)]) == []
    assert not set(original.bands) & set(other.bands)


def test_exact_copy_and_same_canonical_url_are_duplicates() -> None:
    original = fingerprint(_article(WIRE, "https://example.com/story"))
    reflowed = fingerprint(_article(WIRE.replace("\n", "\n\n"), "https://other.example/x"))
    amp = fingerprint(_article(SAME_TOPIC, "https://example.com/story/amp?utm_source=x"))
    assert [m.reason for m in find_duplicates(reflowed, [(1, original)])] == ["exact"]
    assert [m.reason for m in find_duplicates(amp, [(1, original)])] == ["url"]


def test_short_texts_get_no_signature() -> None:
    """A one-sentence article is compared by exact hash only: two sentences are not one story."""
    fp = fingerprint(_article("Russia demanded guarantees from NATO."))
    assert fp.signature == () and fp.bands == ()


def test_fingerprint_is_stable_and_round_trips() -> None:
    fp = fingerprint(_article(WIRE))
    assert fp == fingerprint(_article(WIRE))
    assert len(fp.bands) == BANDS == len(set(fp.bands))
    assert all(-(2**63) <= b < 2**63 for b in fp.bands)
    assert type(fp).unpack_signature(fp.signature_bytes()) == fp.signature
    assert band_keys(fp.signature) == fp.bands


def test_best_duplicate_first() -> None:
    copy = fingerprint(_article(SYNDICATED))
    matches = find_duplicates(copy, [(2, fingerprint(_article(WIRE))), (1, fingerprint(_article(SYNDICATED)))])
    assert [m.key for m in matches] == [1, 2]


# --------------------------------------------------------------------------------------------
# Event substance

SAME_DEMAND = [
    ("roll back its military deployments in Central and Eastern Europe",
     "withdraw forces and weapons deployed in countries that joined after 1997"),
    ("a rollback on alliance drills near Russia", "an end to NATO exercises close to its borders"),
    ("deny membership to Ukraine and other ex-Soviet countries",
     "a legally binding guarantee that NATO will not admit Ukraine or any other former Soviet republic"),
    ("stop arms sales to Taiwan", "halt the sale of weapons to Taiwan"),
    ("hand over dozens of people accused of terrorism", "extradite people it accuses of terrorism"),
    # reporters' rewordings of one demand (written for the lexicon, not taken from an eval set)
    ('release the detained journalists immediately',
     'free the jailed reporters'),
    ("impose sanctions on Iran's oil exports",
     'sanction Iranian oil sales'),
    ('hold talks with Kyiv without preconditions',
     'negotiate with Ukraine without preconditions'),
    ('withdraw its troops from the border',
     'pull back soldiers from the frontier'),
    ('stop the construction of settlements in the West Bank',
     'halt settlement building in the West Bank'),
    ('lift the blockade of Gaza',
     'end the Gaza blockade'),
    ('hand over the suspects in the bombing',
     'extradite the bombing suspects'),
    ('allow international inspectors into its nuclear sites',
     'let UN inspectors visit its nuclear facilities'),
    ('postpone the referendum',
     'delay the vote'),
    ("recognize Kosovo's independence",
     'acknowledge the independence of Kosovo'),
    ('investigate the killing of protesters',
     'open an inquiry into the deaths of demonstrators'),
    ('return the seized tanker',
     'release the captured oil tanker'),
    ('stop military contact with Taiwan',
     'end all military ties with Taiwan'),
    ('cancel the planned arms deal with Saudi Arabia',
     'scrap the proposed weapons sale to Saudi Arabia'),
    ('stop shelling civilian areas',
     'halt the bombardment of residential areas'),
    ('respect the ceasefire agreement',
     'abide by the truce'),
    ('close its military bases in the region',
     'shut down military bases in the region'),
    ("pay compensation to the victims' families",
     'compensate the families of the victims'),
    ('resume grain exports through the Black Sea',
     'restart Black Sea grain shipments'),
    ('reduce oil production',
     'cut crude output'),
]
DIFFERENT_DEMANDS = [
    ("deny membership to Ukraine and other ex-Soviet countries",
     "roll back its military deployments in Central and Eastern Europe"),
    ("a rollback on alliance drills near Russia",
     "roll back its military deployments in Central and Eastern Europe"),
    ("cancel a newly approved arms package for Taiwan", "cancel planned visits to Taipei"),
    ("give Kyiv a firm timetable for joining the alliance",
     "deliver the air defence systems it pledged in the spring"),
    # one speaker's different demands of one day
    ('withdraw troops from the border',
     'release the detained soldiers'),
    ('lift sanctions on its banks',
     'stop arms deliveries to Ukraine'),
    ('hold talks on a ceasefire',
     'withdraw troops from the border'),
    ('recognize the annexation of Crimea',
     'end sanctions over Crimea'),
    ('halt settlement construction',
     'halt attacks on Gaza'),
    ('impose a no-fly zone over Libya',
     'impose an arms embargo on Libya'),
    ('cancel the planned arms deal',
     'cancel the summit'),
    ('release the opposition leader',
     'hold free elections'),
    ('reopen the embassy in Kabul',
     'evacuate its citizens from Kabul'),
    ('extend the grain deal',
     'release the detained sailors'),
    ('allow aid convoys into Gaza',
     'stop the bombing of Gaza'),
    ('expel the ambassador',
     'recall its ambassador'),
    ('pay its UN dues',
     'pay compensation to the victims'),
    ('cut oil production',
     'cut interest rates'),
]


def test_drills_and_exercises_are_one_concept() -> None:
    assert event_substance("drills") == event_substance("exercises") == event_substance("manoeuvres") == event_substance("war games")


@pytest.mark.parametrize(("a", "b"), SAME_DEMAND)
def test_restated_demands_reach_the_threshold(a: str, b: str) -> None:
    assert content_similarity(a, b) >= SUBSTANCE_THRESHOLD


@pytest.mark.parametrize(("a", "b"), DIFFERENT_DEMANDS)
def test_different_demands_stay_below_the_threshold(a: str, b: str) -> None:
    assert content_similarity(a, b) < SUBSTANCE_THRESHOLD


MERGE_PAIRS = Path(__file__).parent / "data" / "merge_pairs.jsonl"
#: Measured on tests/data/merge_pairs.jsonl (docs/pipeline.md, "Event identity"): on the first
#: 46 pairs the lexicon scored 41 (0.89); on all 84, with the hard negatives of one story
#: added, the lexicon alone 64 (0.76) and the combined score as the store step computes it
#: (meaning for pairs sharing a concept) 69 (0.82). The floors keep them from sliding back.
LEXICON_ACCURACY = 0.75
COMBINED_ACCURACY = 0.80


def _merge_pairs() -> list[dict[str, object]]:
    pairs = [json.loads(line) for line in MERGE_PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(pairs) >= 80 and {p["same"] for p in pairs} == {True, False}
    return pairs


def test_merge_pairs_accuracy() -> None:
    """Same/different content pairs (dev's follow-ups, issue 17's paraphrases, our own traps):
    the share `content_similarity` decides right at the merge threshold."""
    pairs = _merge_pairs()
    right = sum((content_similarity(p["a"], p["b"]) >= SUBSTANCE_THRESHOLD) == p["same"] for p in pairs)  # type: ignore[arg-type]
    assert right / len(pairs) >= LEXICON_ACCURACY, f"{right} of {len(pairs)}"


def test_merge_pairs_accuracy_with_meaning(embedder) -> None:  # type: ignore[no-untyped-def]
    """The combined score (lexicon, or the framed contents' cosine where they share a concept,
    names veto) decides more pairs right than the lexicon alone, with the real model."""
    pairs = _merge_pairs()
    a = embedder.encode([meaning_text(p["a"], p.get("source"), p.get("target")) for p in pairs])  # type: ignore[arg-type]
    b = embedder.encode([meaning_text(p["b"], p.get("source"), p.get("target")) for p in pairs])  # type: ignore[arg-type]
    decided = [identity_score(p["a"], p["b"], float(x @ y) if shares_concept(p["a"], p["b"]) else None) > 0  # type: ignore[arg-type]
               for p, x, y in zip(pairs, a, b)]
    right = sum(d == p["same"] for d, p in zip(decided, pairs))
    lexical = sum((content_similarity(p["a"], p["b"]) >= SUBSTANCE_THRESHOLD) == p["same"] for p in pairs)  # type: ignore[arg-type]
    assert right / len(pairs) >= COMBINED_ACCURACY and right > lexical, f"{right} of {len(pairs)}"


@pytest.mark.parametrize(("a", "b"), [
    ("pull its troops back from the frontier", "a withdrawal of forces near the border"),
    ("surrender the suspects", "extradite them"),
    ("end the ban on selling jets", "lift the restrictions on aircraft exports"),
    ("give Kyiv a firm timetable", "give Ukraine a timetable"),
])
def test_the_lexicon_joins_reporters_wordings(a: str, b: str) -> None:
    assert content_similarity(a, b) >= SUBSTANCE_THRESHOLD


def test_two_places_tell_two_demands_apart() -> None:
    assert content_names("withdraw troops from Moldova") == {"moldova"}
    assert content_similarity("withdraw troops from Moldova", "withdraw forces from Georgia") == 0.0
    assert content_similarity("withdraw troops from Moldova", "pull back forces from Moldova") == 1.0


def test_anaphoric_content_has_no_substance() -> None:
    assert event_substance("the demand") == ()


# --------------------------------------------------------------------------------------------
# Event identity

RUS = Actor("Russia", "RUS", "state")
NATO = Actor("NATO", "NATO", "organisation")
USA = Actor("United States", "USA", "state")
DAY = dt.date(2021, 12, 17)
NEAR = band_buckets_near(DAY, days=7)


def _event(content: str, source: Actor | None = RUS, target: Actor | None = NATO,
           etype: EventType = EventType.DEMAND) -> Event:
    return Event(type=etype, source=source, target=target, content=content,
                 sentence=content, start=0, end=len(content))


def _known(key: int, content: str, *, source: str | None = "RUS", target: str | None = "NATO",
           date: dt.date | None = DAY, etype: EventType = EventType.DEMAND) -> KnownEvent:
    return KnownEvent(key=key, type=etype, source=source, target=target, contents=(content,), event_date=date)


STORED = [
    _known(1, "deny membership to Ukraine and other ex-Soviet countries"),
    _known(2, "roll back its military deployments in Central and Eastern Europe"),
    _known(3, "a rollback on alliance drills near Russia", target=None),
]


def test_follow_up_demands_merge_each_with_its_own_event() -> None:
    events = [
        _event("a legally binding guarantee that NATO will not admit Ukraine or any other former Soviet republic",
               target=None),
        _event("withdraw forces and weapons deployed in countries that joined after 1997"),
        _event("an end to NATO exercises close to its borders"),
    ]
    assert match_events(events, DAY, STORED) == [1, 2, 3]


def test_two_demands_of_one_article_never_merge_into_one_event() -> None:
    events = [_event("roll back military deployments in Eastern Europe"),
              _event("roll back its military deployments in Central Europe")]
    assert match_events(events, DAY, STORED) == [2, None] or match_events(events, DAY, STORED) == [None, 2]


def test_a_quote_restating_the_leads_refusal_is_the_same_event() -> None:
    """Bug: the lead's refusal and the quote restating it became two events of one article."""
    from newswatch.pipeline.dedup import restatements

    swe, hun = Actor("Sweden", "SWE", "state"), Actor("Hungary", "HUN", "state")
    reject = EventType.REJECT
    events = [
        _event("negotiate with Hungary over its application to join NATO", swe, hun, reject),
        _event("withdraw the troops", RUS, NATO),
        _event("negotiate at this point", swe, None, reject),  # the quote: the same refusal
        _event("negotiate at this point", hun, None, reject),  # another speaker
        _event("ratify the accession protocol", swe, None, reject),  # another act refused
    ]
    assert restatements(events) == [None, None, 0, None, None]
    # demands are not folded together: an article's list of demands shares heads and words
    demands = [_event("release the detained sailors"), _event("release the sailors at once")]
    assert restatements(demands) == [None, None]


def test_the_same_demand_a_week_later_is_a_new_event() -> None:
    event = _event("roll back its military deployments in Central and Eastern Europe")
    assert match_event(event, DAY + dt.timedelta(days=2), STORED) == 2
    assert match_event(event, DAY + dt.timedelta(days=7), STORED) is None
    assert match_event(event, DAY + dt.timedelta(days=7), STORED, window_days=7) == 2


def test_event_key_is_the_date_then_the_exact_identity() -> None:
    event = _event("deny Ukraine membership")
    key = event_key(event, DAY)
    assert key.startswith("2021-12-17/") and len(key) <= 64  # fits events.event_key
    assert event_key(_event("Deny  Ukraine\nmembership"), DAY) == key  # case and spacing only
    assert event_key(event, DAY + dt.timedelta(days=1)) != key
    assert event_key(_event("deny Ukraine membership", target=USA), DAY) != key
    assert event_key(_event("deny Georgia membership"), DAY) != key
    assert event_key(event, None).startswith("-/")


@pytest.mark.parametrize(
    "event",
    [
        _event("roll back its military deployments in Central and Eastern Europe", source=USA),
        _event("roll back its military deployments in Central and Eastern Europe", target=USA),
        _event("roll back its military deployments in Central and Eastern Europe", etype=EventType.REJECT),
        _event("ban warships from areas where they can strike each other's territory"),
    ],
    ids=["other source", "other target", "other type", "other substance"],
)
def test_events_that_differ_in_one_part_of_their_identity_do_not_merge(event: Event) -> None:
    assert match_event(event, DAY, STORED) is None


def test_an_unknown_target_is_compatible_with_any() -> None:
    event = _event("roll back its military deployments in Central and Eastern Europe", target=None)
    assert match_event(event, DAY, STORED) == 2


def test_an_anaphoric_rejection_merges_within_the_same_story() -> None:
    stored = [
        KnownEvent(9, EventType.REJECT, "USA", "RUS", ("bold demands",), DAY, article=1),
        KnownEvent(2, EventType.DEMAND, "RUS", "NATO", ("roll back its military deployments",), DAY, article=1),
    ]
    rejection = _event("some of the proposals", source=USA, target=None, etype=EventType.REJECT)
    demand = _event("withdraw forces deployed in Eastern Europe")
    assert match_events([demand, rejection], DAY, stored) == [2, 9]


def test_an_anaphoric_rejection_alone_is_not_merged() -> None:
    """Without a shared story, "rejected the proposal" says nothing about which proposal."""
    stored = [KnownEvent(9, EventType.REJECT, "USA", "RUS", ("bold demands",), DAY, article=1)]
    rejection = _event("the proposal", source=USA, target=None, etype=EventType.REJECT)
    assert match_event(rejection, DAY, stored) is None
    copied = [KnownEvent(9, EventType.REJECT, "USA", "RUS", ("bold demands",), None, article=1)]
    assert match_event(rejection, DAY, copied) == 9


def test_contentful_match_beats_an_empty_one() -> None:
    stored = [_known(1, "the demand"), _known(2, "roll back its military deployments")]
    assert match_event(_event("withdraw deployed forces"), DAY, stored) == 2
    copied = KnownEvent(1, EventType.DEMAND, "RUS", "NATO", ("withdraw forces",), None, article=7)
    assert match_event(_event("the demand"), DAY, [copied]) == 1


def test_a_follow_up_retells_its_story_in_other_words() -> None:
    """Once a follow-up restates one demand of a story, its other demands of the same actors
    merge on one shared concept; alone, the loose restatement stays a new event."""
    stored = [
        KnownEvent(1, EventType.DEMAND, "RUS", "NATO", ("deny membership to Ukraine",), DAY, article=4),
        KnownEvent(2, EventType.DEMAND, "RUS", "NATO", ("keep its weapons away from Russian borders",), DAY, article=4),
    ]
    restated = _event("refuse Ukraine membership of the alliance")
    loose = _event("withdraw all missile systems from the region")
    assert match_events([restated, loose], DAY, stored) == [1, 2]
    assert match_events([loose], DAY, stored) == [None]


def test_assignment_prefers_the_pairing_that_explains_both_events() -> None:
    """Best pair first would give event 0 candidate 1 and leave event 1 unpaired."""
    pairs = [(0.6, 0, 0), (0.7, 0, 1), (0.5, 1, 1)]
    assert assign_pairs(pairs) == {0: 0, 1: 1}
    assert assign_pairs([(0.5, 0, 0), (0.5, 1, 0)]) == {0: 0}


ORIGINAL = [
    KnownEvent(11, EventType.DEMAND, "UKR", "NATO", ("give Kyiv a firm timetable for membership",), None, article=1),
    KnownEvent(12, EventType.DEMAND, "UKR", "DEU", ("supply more air defence systems",), None, article=1),
    KnownEvent(13, EventType.THREATEN, "RUS", "NATO", ("cross a red line",), None, article=1),
]
UKR = Actor("Ukraine", "UKR", "state")
DEU = Actor("Germany", "DEU", "state")


def test_a_copy_adds_no_event_its_events_are_the_originals() -> None:
    """Bug: a syndicated copy whose editor wrote "Kyiv's envoy" for Ukraine stored its demands
    again as new events (other source); a copy's events are mentions of the original's."""
    events = [
        _event("a firm timetable for membership", source=Actor("Kyiv's envoy", None, "person"), target=NATO),
        _event("supply air defence systems", source=UKR, target=DEU),
        _event("cross a red line", source=RUS, target=None, etype=EventType.THREATEN),
    ]
    assert inherit_events(events, ORIGINAL) == [11, 12, 13]


def test_a_copys_extra_event_joins_the_closest_event_of_its_type() -> None:
    events = [
        _event("give Kyiv a firm timetable for membership", source=UKR),
        _event("supply air defence systems", source=UKR, target=DEU),
        _event("send tanks quickly", source=UKR, target=DEU),
    ]
    assert inherit_events(events, ORIGINAL) == [11, 12, 12]


def test_a_copys_event_of_a_type_the_original_lacks_is_not_recorded() -> None:
    rejection = _event("the request", source=DEU, target=UKR, etype=EventType.REJECT)
    assert inherit_events([rejection], ORIGINAL) == [None]
    assert inherit_events([_event("anything")], []) == [None]


# --------------------------------------------------------------------------------------------
# The database side (SQLite and PostgreSQL): candidates by index, the dedup lock


def _values(article: Article, fp, **extra: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "url": article.url, "canonical_url": fp.canonical_url, "title": article.title, "byline": None,
        "source": None, "published": DAY, "text": article.text, "text_hash": fp.text_hash,
        "signature": fp.signature_bytes() or None, "shingle_count": fp.shingle_count,
        "duplicate_of_id": None,
    }
    values.update(extra)
    return values


def test_near_duplicate_candidates_come_from_the_band_index(db: str) -> None:
    from newswatch.db import queries, store
    from newswatch.db.session import open_session

    wire, other = _article(WIRE, "wire.txt"), _article(SAME_TOPIC, "other.txt")
    wire_fp, other_fp = fingerprint(wire), fingerprint(other)
    with open_session(db) as session, session.begin():
        wire_id, _ = store.save_article(session, _values(wire, wire_fp))
        store.save_bands(session, wire_id, wire_fp, band_bucket(DAY))
        store.save_bands(session, wire_id, wire_fp, band_bucket(DAY))  # idempotent
        other_id, _ = store.save_article(session, _values(other, other_fp))
        store.save_bands(session, other_id, other_fp, band_bucket(DAY))
        copy_fp = fingerprint(_article(SYNDICATED, "copy.txt"))
        candidates = store.list_duplicate_candidates(session, copy_fp, NEAR)
        assert [key for key, _ in candidates] == [wire_id]
        assert [m.key for m in find_duplicates(copy_fp, candidates)] == [wire_id]
        # a stored copy is reported under its original's id
        copy_id, _ = store.save_article(session, _values(_article(SYNDICATED, "copy.txt"), copy_fp,
                                                           duplicate_of_id=wire_id))
        again = fingerprint(_article(SYNDICATED, "copy-again.txt"))
        assert {key for key, _ in store.list_duplicate_candidates(session, again, NEAR)} == {wire_id}
        groups = queries.list_duplicate_groups(session)
        assert [(o.url, [c.url for c in copies]) for o, copies in groups] == [("wire.txt", ["copy.txt"])]
        assert groups[0][1][0].duplicate_of == "wire.txt" and copy_id > wire_id


def test_near_duplicate_candidates_are_looked_for_in_nearby_weeks_only(db: str) -> None:
    from newswatch.db import store
    from newswatch.db.session import open_session

    wire = _article(WIRE, "wire.txt")
    wire_fp = fingerprint(wire)
    copy_fp = fingerprint(_article(SYNDICATED, "copy.txt"))
    exact_fp = fingerprint(_article(WIRE, "https://elsewhere.example/wire"))
    with open_session(db) as session, session.begin():
        wire_id, _ = store.save_article(session, _values(wire, wire_fp))
        store.save_bands(session, wire_id, wire_fp, band_bucket(DAY))
        for days_later in (1, 6, 7):
            near = band_buckets_near(DAY + dt.timedelta(days=days_later), days=7)
            assert [k for k, _ in store.list_duplicate_candidates(session, copy_fp, near)] == [wire_id]
        far = band_buckets_near(DAY + dt.timedelta(days=60), days=7)
        assert store.list_duplicate_candidates(session, copy_fp, far) == []
        # an exact copy is found whatever its date: by text hash, not by band
        assert [k for k, _ in store.list_duplicate_candidates(session, exact_fp, far)] == [wire_id]
        wide = band_buckets_near(DAY + dt.timedelta(days=60), days=90)
        assert [k for k, _ in store.list_duplicate_candidates(session, copy_fp, wide)] == [wire_id]


@pytest.mark.parametrize(("days_apart", "window", "copy"), [(5, 7, True), (40, 7, False), (40, 60, True)])
def test_store_step_finds_an_edited_copy_within_the_near_duplicate_window(
    db: str, days_apart: int, window: int, copy: bool
) -> None:
    from newswatch.flows._steps import store
    from newswatch.pipeline.records import Extraction
    from newswatch.pipeline.settings import Settings

    settings = Settings(database_url=db, notify="", near_duplicate_days=window)
    wire = Article(url="wire.txt", title="headline", text=WIRE, published=DAY)
    edited = Article(url="copy.txt", title="headline", text=SYNDICATED, published=DAY + dt.timedelta(days=days_apart))
    exact = Article(url="exact.txt", title="headline", text=WIRE, published=DAY + dt.timedelta(days=days_apart))
    outcomes = store([Extraction(article=a, actors=(), events=()) for a in (wire, edited, exact)], settings)
    assert [o.duplicate for o in outcomes] == [False, copy, True]  # an exact copy at any distance


@pytest.mark.parametrize("days", [0, 1, 3, 7, 10, 30])
def test_band_buckets_near_hold_every_day_of_the_window_and_few_more(days: int) -> None:
    for start in range(14):  # every position of a day in its week
        day = DAY + dt.timedelta(days=start)
        near = band_buckets_near(day, days)
        window = {band_bucket(day + dt.timedelta(days=d)) for d in range(-days, days + 1)}
        assert set(near) == window  # the buckets of the window's days, and no others
        assert len(near) <= (2 * days) // BUCKET_DAYS + 2


def test_event_candidates_are_in_the_window_or_from_the_original(db: str) -> None:
    from sqlalchemy import text

    from newswatch.db import store
    from newswatch.db.session import open_session

    def stored(session, url: str, content: str, date: dt.date) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        fp = fingerprint(_article(url * 3, url))
        article_id, _ = store.save_article(session, _values(_article(url * 3, url), fp, published=date))
        event = _event(content)
        event_id, _ = store.save_event(session, event, event_key=url, article_id=article_id, event_date=date)
        store.save_mention(session, event_id, article_id, event)
        return article_id, event_id

    with open_session(db) as session, session.begin():
        _, near = stored(session, "a.txt", "roll back deployments", DAY)
        old_article, old = stored(session, "b.txt", "end drills", DAY - dt.timedelta(days=10))
        _, other_source = stored(session, "c.txt", "x", DAY)
        session.execute(text("UPDATE events SET source_code = 'USA' WHERE id = :id"), {"id": other_source})
        found = store.list_event_candidates(session, [_event("withdraw forces")], DAY, window_days=2)
        assert [k.key for k in found] == [near]
        assert found[0].contents == ("roll back deployments",) and found[0].source == "RUS"
        with_original = store.list_event_candidates(
            session, [_event("withdraw forces")], DAY, window_days=2, original_id=old_article
        )
        assert {k.key: k.event_date for k in with_original} == {near: DAY, old: None}


def test_event_candidates_bring_each_distinct_mention_content_in_stored_order(db: str) -> None:
    """More candidates than one contents query takes, each with its own content first and then
    its mentions' other contents once each, as first stored; an event with no target takes
    every target of its type and source, a targeted one its own target or none."""
    from dataclasses import replace

    from newswatch.db import store
    from newswatch.db.session import open_session

    n = store._IDS_PER_QUERY + 30
    with open_session(db) as session, session.begin():
        article_id, _ = store.save_article(session, _values(_article("many " * 9, "m.txt"), fingerprint(
            _article("many " * 9, "m.txt")), published=DAY))
        targets = [NATO, USA, None]
        ids = []
        for i in range(n):
            event = _event(f"demand {i}", target=targets[i % 3])
            event_id, _ = store.save_event(session, event, event_key=f"k{i}", article_id=article_id, event_date=DAY)
            for start, content in enumerate([event.content, f"restated {i}", event.content, f"again {i}"]):
                store.save_mention(session, event_id, article_id, replace(event, content=content, start=start))
            ids.append(event_id)
        untargeted = store.list_event_candidates(
            session, [_event("x", target=None), _event("y", target=NATO)], DAY, window_days=2)
        assert [k.key for k in untargeted] == ids
        assert [k.contents for k in untargeted[:2]] == [
            ("demand 0", "restated 0", "again 0"), ("demand 1", "restated 1", "again 1")]
        assert all(len(k.contents) == 3 for k in untargeted)
        to_nato = store.list_event_candidates(session, [_event("y", target=NATO)], DAY, window_days=2)
        assert [k.key for k in to_nato] == [ids[i] for i in range(n) if i % 3 != 1]


def test_dedup_lock_makes_a_second_store_wait(db: str) -> None:
    """Two processes must not both decide "new": the second waits until the first commits."""
    import threading

    from newswatch.db import store
    from newswatch.db.session import open_session

    done = threading.Event()

    def second() -> None:
        with open_session(db) as session, session.begin():
            store.lock_dedup(session)
        done.set()

    with open_session(db) as session, session.begin():
        store.lock_dedup(session)
        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(1.0), "the second transaction got the lock while the first held it"
    assert done.wait(10), "the second transaction never got the lock"
    thread.join()


def test_articles_duplicates_lists_each_original_then_its_copies(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from newswatch import cli
    from newswatch.db import store
    from newswatch.db.session import open_session

    with open_session(db) as session, session.begin():
        wire = _article(WIRE, "wire.txt")
        wire_id, _ = store.save_article(session, _values(wire, fingerprint(wire)))
        other = _article(SAME_TOPIC, "other.txt")
        store.save_article(session, _values(other, fingerprint(other)))
        copy = _article(SYNDICATED, "copy.txt")
        store.save_article(session, _values(copy, fingerprint(copy), duplicate_of_id=wire_id))
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", db)
    result = CliRunner().invoke(cli.app, ["articles", "--duplicates", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["url"], r["duplicate_of"]) for r in rows] == [("wire.txt", None), ("copy.txt", "wire.txt")]


# --------------------------------------------------------------------------------------------
# Event identity by meaning (the real model) and by story

SAU = Actor("Saudi Arabia", "SAU", "state")
QAT = Actor("Qatar", "QAT", "state")


class CountingEmbedder:
    """The real model, recording what it was asked to embed."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.calls: list[list[str]] = []

    def encode(self, texts):  # type: ignore[no-untyped-def]
        self.calls.append(list(texts))
        return self.inner.encode(texts)


def test_meaning_text_frames_the_content_with_its_actors() -> None:
    event = _event("shut down  the broadcaster", source=SAU, target=QAT)
    assert event_meaning_text(event) == "Saudi Arabia demanded that Qatar shut down the broadcaster"
    assert meaning_text("stop", None, None) == "Someone demanded that the other side stop"
    known = KnownEvent(1, EventType.DEMAND, "SAU", "QAT", ("close it", "shut it"), DAY,
                       source_name="Riyadh", target_name="Doha")
    assert known_meaning_text(known) == "Riyadh demanded that Doha close it"


def test_a_restatement_without_shared_words_merges_by_meaning(embedder) -> None:  # type: ignore[no-untyped-def]
    """The lexicon sees one shared concept (`close`) between "take the channel off the air" and
    "shut down the broadcaster", not enough to merge; their framed vectors are enough. The other
    demand of the same actors shares nothing with the stored one: it is not even embedded."""
    stored = [KnownEvent(5, EventType.DEMAND, "SAU", "QAT", ("take the television channel off the air",), DAY,
                         article=1, source_name="Saudi Arabia", target_name="Qatar")]
    events = [_event("shut down the broadcaster", source=SAU, target=QAT),
              _event("pay compensation for the losses of the blockade", source=SAU, target=QAT)]
    assert content_similarity(events[0].content, stored[0].contents[0]) == 0.0
    assert match_events(events, DAY, stored) == [None, None]  # the lexicon alone
    counting = CountingEmbedder(embedder)
    found = embed_for_matching(counting, events, DAY, stored)
    assert counting.calls == [["Saudi Arabia demanded that Qatar shut down the broadcaster",
                               "Saudi Arabia demanded that Qatar take the television channel off the air"]]
    assert set(found.computed) == {5} and found.candidates[0].vector == found.computed[5]
    assert found.events[1] is None
    assert match_events(events, DAY, found.candidates, vectors=found.events) == [5, None]


def test_meaning_never_merges_two_places(embedder) -> None:  # type: ignore[no-untyped-def]
    stored = [KnownEvent(5, EventType.DEMAND, "RUS", "NATO", ("withdraw troops from Moldova",), DAY, article=1)]
    events = [_event("withdraw troops from Georgia")]
    # not even one vector for both (a cosine of 1) merges them
    (vector,) = embedder.encode([event_meaning_text(events[0])])
    with_vector = [replace(stored[0], vector=to_bytes(vector))]
    assert match_events(events, DAY, with_vector, vectors=[vector]) == [None]
    # so neither is embedded for the comparison: no cosine could merge them
    counting = CountingEmbedder(embedder)
    found = embed_for_matching(counting, events, DAY, stored)
    assert counting.calls == [] and found.events == [None] and found.computed == {}
    # a candidate with one mention that names no other place is still compared by meaning
    mentioned = [replace(stored[0], contents=("withdraw troops from Moldova", "withdraw the missiles"))]
    embed_for_matching(counting, events, DAY, mentioned)
    assert counting.calls == [["Russia demanded that NATO withdraw troops from Georgia",
                               "RUS demanded that NATO withdraw troops from Moldova"]]


def test_events_without_candidates_are_not_embedded(embedder) -> None:  # type: ignore[no-untyped-def]
    counting = CountingEmbedder(embedder)
    stored = [KnownEvent(5, EventType.DEMAND, "RUS", "NATO", ("withdraw troops",), DAY, article=1)]
    other_source = _event("withdraw troops", source=USA)
    found = embed_for_matching(counting, [other_source], DAY, stored)
    assert counting.calls == [] and found.events == [None] and found.computed == {}
    # a stored vector is never computed again
    with_vector = [KnownEvent(5, EventType.DEMAND, "RUS", "NATO", ("withdraw troops",), DAY, article=1,
                              vector=found.candidates[0].vector or b"\0\0" * 384)]
    embed_for_matching(counting, [_event("withdraw the missiles")], DAY, with_vector)
    assert counting.calls == [["Russia demanded that NATO withdraw the missiles"]]
    # nor is an event the lexicon already places ("pull back forces" = "withdraw troops")
    embed_for_matching(counting, [_event("pull back forces")], DAY, with_vector)
    assert len(counting.calls) == 1


def test_a_follow_up_with_the_same_actors_retells_two_demands(embedder) -> None:  # type: ignore[no-untyped-def]
    """Story by actors: the follow-up shares two type/source/target combinations with the
    stored article, so its restatements merge at the story's thresholds, each with its own
    counterpart (one to one), though neither reaches the lexicon's threshold alone."""
    stored = [
        KnownEvent(1, EventType.DEMAND, "SAU", "QAT", ("take the television channel off the air",), DAY, article=3,
                   source_name="Saudi Arabia", target_name="Qatar"),
        KnownEvent(2, EventType.DEMAND, "SAU", "QAT", ("send home the foreign soldiers based in the country",), DAY,
                   article=3, source_name="Saudi Arabia", target_name="Qatar"),
        KnownEvent(3, EventType.THREATEN, "SAU", "QAT", ("more sanctions",), DAY, article=3,
                   source_name="Saudi Arabia", target_name="Qatar"),
    ]
    events = [
        _event("expel the troops stationed on its soil", source=SAU, target=QAT),
        _event("shut down the broadcaster", source=SAU, target=QAT),
        _event("further economic penalties", source=SAU, target=QAT, etype=EventType.THREATEN),
    ]
    assert story_articles(events, DAY, stored, 2) == {3}
    found = embed_for_matching(embedder, events, DAY, stored)
    assert match_events(events, DAY, found.candidates, vectors=found.events) == [2, 1, 3]


def test_store_step_merges_by_meaning_and_keeps_each_vector_once(db: str, embedder) -> None:  # type: ignore[no-untyped-def]
    """Real database (SQLite file, PostgreSQL): the first article has no candidates and is not
    embedded; the follow-up's restatement merges by meaning, and the old event's vector
    (computed at its first comparison) is stored; the follow-up's other demand, which nothing
    resembles, is stored without one."""
    from sqlalchemy import select

    from newswatch.db.models import EventRow
    from newswatch.db.session import open_session
    from newswatch.flows._steps import store
    from newswatch.pipeline.records import Extraction
    from newswatch.pipeline.settings import Settings

    settings = Settings(database_url=db, notify="")
    first = Extraction(article=Article(url="a.txt", title="t", text="Riyadh wants the channel closed.", published=DAY),
                       events=(_event("take the television channel off the air", source=SAU, target=QAT),))
    follow = Extraction(
        article=Article(url="b.txt", title="t", text="The bloc again pressed Doha.", published=DAY + dt.timedelta(days=1)),
        events=(_event("shut down the broadcaster", source=SAU, target=QAT),
                _event("pay compensation for the losses of the blockade", source=SAU, target=QAT)))
    counting = CountingEmbedder(embedder)
    [outcome] = store([first], settings, embedder=counting)
    assert outcome.events_new == 1 and counting.calls == []
    with open_session(db) as session:
        assert session.scalars(select(EventRow.content_vector)).all() == [None]
    [outcome] = store([follow], settings, embedder=counting)
    assert (outcome.events_new, outcome.events_merged) == (1, 1) and len(counting.calls) == 1
    with open_session(db) as session:
        rows = session.execute(select(EventRow.content, EventRow.content_vector).order_by(EventRow.id)).all()
    assert [r.content for r in rows] == ["take the television channel off the air",
                                         "pay compensation for the losses of the blockade"]
    assert rows[0].content_vector is not None and len(rows[0].content_vector) == 384 * 2
    assert rows[1].content_vector is None


def test_store_step_decides_a_batch_as_one_by_one(
    db: str, tmp_path: Path, embedder,  # type: ignore[no-untyped-def]
) -> None:
    """A batch's articles ask the model for what they compare by meaning, article by article,
    each against what was stored before it; what a batch stores is what storing them one batch
    each stores (real databases: the fixture's, and a second SQLite file)."""
    from newswatch.db.migrate import upgrade
    from newswatch.flows._steps import store
    from newswatch.pipeline.records import Extraction
    from newswatch.pipeline.settings import Settings
    from tests._faults import snapshot

    def article(url: str, day: int, *events: Event) -> Extraction:
        return Extraction(article=Article(url=url, title="t", text=f"Text of {url}.",
                                          published=DAY + dt.timedelta(days=day)), events=events)

    first = [article("a.txt", 0, _event("take the television channel off the air", source=SAU, target=QAT),
                     _event("send home the foreign soldiers based in the country", source=SAU, target=QAT))]
    batch = [
        article("b.txt", 1, _event("shut down the broadcaster", source=SAU, target=QAT),
                _event("pay compensation for the losses of the blockade", source=SAU, target=QAT)),
        article("c.txt", 1, _event("expel the troops stationed on its soil", source=SAU, target=QAT)),
    ]
    together = Settings(database_url=db, notify="")
    one_by_one = Settings(database_url=f"sqlite:///{tmp_path / 'one_by_one.db'}", notify="")
    upgrade(one_by_one.database_url)
    for settings in (together, one_by_one):
        store(first, settings, embedder=embedder)
    counting = CountingEmbedder(embedder)
    outcomes = store(batch, together, embedder=counting)
    asked = [text for call in counting.calls for text in call]
    assert "Saudi Arabia demanded that Qatar shut down the broadcaster" in asked
    assert "Saudi Arabia demanded that Qatar expel the troops stationed on its soil" in asked
    assert len(asked) == len(set(asked))  # no text encoded twice
    alone = [outcome for extraction in batch for outcome in store([extraction], one_by_one, embedder=embedder)]
    assert outcomes == alone
    assert outcomes[0].events_merged == 1  # by meaning: the lexicon sees one shared concept
    assert snapshot(together.database_url) == snapshot(one_by_one.database_url)


def test_store_step_without_a_model_decides_by_the_lexicon(db: str) -> None:
    from newswatch.flows._steps import store
    from newswatch.pipeline.embed import make_embedder
    from newswatch.pipeline.records import Extraction
    from newswatch.pipeline.settings import Settings

    settings = Settings(database_url=db, notify="", embedding_model="none")
    day2 = DAY + dt.timedelta(days=1)

    def one(url: str, content: str, day: dt.date) -> Extraction:
        return Extraction(article=Article(url=url, title="t", text=url, published=day),
                          events=(_event(content, source=SAU, target=QAT),))

    outcomes = store([
        one("a.txt", "take the television channel off the air", DAY),
        one("b.txt", "halt arms sales to Taiwan", DAY),
        one("c.txt", "shut down the broadcaster", day2),  # restated in other words: missed
        one("d.txt", "stop selling weapons to Taiwan", day2),  # the lexicon joins these
    ], settings, embedder=make_embedder(settings.embedding_model))
    assert [(o.events_new, o.events_merged) for o in outcomes] == [(1, 0), (1, 0), (1, 0), (0, 1)]


def test_a_restated_refusal_is_stored_as_one_event_with_two_mentions(db: str) -> None:
    """The store step keeps a quote that restates the lead's refusal as a second mention of it."""
    from newswatch.db.queries import EventFilters, list_events
    from newswatch.db.session import open_session
    from newswatch.flows import _steps
    from newswatch.pipeline.records import Extraction
    from newswatch.pipeline.settings import Settings

    swe, hun = Actor("Sweden", "SWE", "state"), Actor("Hungary", "HUN", "state")
    lead = "Sweden said it saw no reason to negotiate with Hungary over its NATO bid."
    quote = '"I see no reason to negotiate at this point," Billstrom said.'
    text = f"{lead}\n{quote}"
    events = (
        Event(type=EventType.REJECT, source=swe, target=hun, content="negotiate with Hungary over its NATO bid",
              sentence=lead, start=0, end=len(lead)),
        Event(type=EventType.REJECT, source=swe, target=None, content="negotiate at this point",
              sentence=quote, start=len(lead) + 1, end=len(text)),
    )
    article = Article(url="a.txt", title="Sweden sees no reason to negotiate", text=text, published=DAY)
    settings = Settings(database_url=db)
    (outcome,) = _steps.store([Extraction(article=article, actors=(swe, hun), events=events)], settings, topics=())
    assert (outcome.events_new, outcome.events_merged) == (1, 1)
    with open_session(db) as session:
        (stored,) = list_events(session, EventFilters())
    assert stored.content == "negotiate with Hungary over its NATO bid"
    assert [m.sentence for m in stored.mentions] == [lead, quote]
