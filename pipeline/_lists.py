"""Enumerated demands: a list announced with a colon, each item its own DEMAND of the announcer.

"The list requires Doha to: close the broadcaster; sever ties with Hezbollah; pay reparations",
"Seoul set out its conditions: stop the tests, end the drills and pull out of the zone", or
"The demands include:" followed by one paragraph per item. The parser reads such lists badly
("sever" as a noun, an item as the root of its own sentence), so each item is told by its first
word, tagged on its own ("They must <item>"), and its roles come from the announcement: the
source and target of a demand made before the colon, else the subject and the addressee of
the clause that names the demands (in that sentence or the one before).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from newswatch.pipeline import _spacy  # noqa: F401  # before spaCy: keeps PyTorch out
from spacy.tokens import Doc, Token

from newswatch.pipeline._roles import ActorOf, Resolver, RoleWords, span_text
from newswatch.pipeline.records import Actor, Event, EventType

Tagger = Callable[[str], Doc]

_ITEM_FRAME = "They must "  # an item is a demand when it reads as a verb phrase in this frame
_BULLETS = frozenset({"-", "•", "*", "–", "—", "·"})
_MIN_ITEMS = 2


def read_listed_demands(doc: Doc, events: list[Event], actor_of: ActorOf, words: RoleWords,
                        tag: Tagger) -> list[Event]:
    """Return `events` with each enumerated demand of `doc` as its own DEMAND.

    The events a list's sentences gave of the same source (parts of the list misread) give way
    to the items. `tag` tags a short text (tagger and lemmatizer only).
    """
    resolver = Resolver(doc, actor_of, words)
    for colon in (t for t in doc if t.text == ":"):
        items = _items(doc, colon, tag, False)
        if len(items) < _MIN_ITEMS and any(t.lemma_.lower() in words.list_nouns for t in doc[colon.sent.start:colon.i]):
            items = _items(doc, colon, tag, True)  # "its conditions: a ceasefire, the release of ..."
        if len(items) < _MIN_ITEMS:
            continue
        roles = _announcer(doc, colon, events, resolver)
        if roles is None:
            continue
        source, target, trigger = roles
        covered = {colon.sent.start_char} | {doc[start].sent.start_char for start, _ in items}
        listed = [doc[start:end].text for start, end in items]
        tail = doc[colon.i + 1:items[-1][1]].text
        events = [e for e in events if not (
            e.type is EventType.DEMAND and e.start in covered and _code(e.source) == _code(source)
            and e.content and (e.content in tail or any(x in e.content for x in listed)))]
        for start, end in items:
            sent = doc[start].sent
            sentence = sent.text.rstrip()
            content = span_text(doc, range(start, end))
            events.append(Event(
                type=EventType.DEMAND, source=source, target=target, content=content,
                sentence=sentence, start=sent.start_char, end=sent.start_char + len(sentence),
                trigger=trigger,
            ))
    events.sort(key=lambda e: e.start)
    return events


def _code(actor: Actor | None) -> str | None:
    return actor.code if actor is not None else None


# -- items -----------------------------------------------------------------------------------


def _paragraph_end(doc: Doc, start: int) -> int:
    """The end (exclusive) of the paragraph holding token `start`."""
    for t in doc[start:]:
        if "\n" in t.text or "\n" in t.whitespace_:
            return t.i + (0 if "\n" in t.text else 1)
    return len(doc)


def _items(doc: Doc, colon: Token, tag: Tagger, nominal: bool) -> list[tuple[int, int]]:
    """The items after `colon` that read as verb phrases (or, `nominal`, as noun phrases of an
    act: "an immediate ceasefire", "the release of the hostages"), as token ranges (empty: no list)."""
    end = _paragraph_end(doc, colon.i + 1)
    if end > colon.i + 1 and not doc[colon.i + 1].is_space:
        pieces = _split_inline(doc, colon.i + 1, end, nominal)
    else:
        pieces = []
        start = end
        while start < len(doc):
            while start < len(doc) and doc[start].is_space:
                start += 1
            if start >= len(doc):
                break
            stop = _paragraph_end(doc, start)
            if not _is_demand_item(doc, start, stop, tag, nominal):
                break
            pieces.append((start, stop))
            start = stop
    found = [(s, e) for s, e in (_strip(doc, s, e) for s, e in pieces) if e > s]
    verbs = [(s, e) for s, e in found if _is_demand_item(doc, s, e, tag, nominal)]
    return verbs if len(verbs) >= _MIN_ITEMS and 2 * len(verbs) >= len(found) else []


def _split_inline(doc: Doc, start: int, end: int, nominal: bool) -> list[tuple[int, int]]:
    """Split "close A; sever B; pay C" at semicolons, else "stop A, end B and pull out of C" at
    commas and at "and"/"or" before a verb (before an article, for noun phrases)."""
    opens = ("DT",) if nominal else ("VB", "VBP", "VBZ")
    marks = [t.i for t in doc[start:end] if t.text == ";"]
    if not marks:
        marks = [t.i for t in doc[start:end] if t.text == "," or (
            t.lower_ in ("and", "or") and t.i + 1 < end and doc[t.i + 1].tag_ in opens)]
    pieces: list[tuple[int, int]] = []
    left = start
    for m in marks:
        pieces.append((left, m))
        left = m + 1
    pieces.append((left, end))
    return pieces


def _strip(doc: Doc, start: int, end: int) -> tuple[int, int]:
    """Drop bullets, numbering, "and"/"to" before an item and punctuation after it."""
    while start < end and (doc[start].is_space or doc[start].text in _BULLETS or doc[start].like_num
                           and start + 1 < end and doc[start + 1].text in (".", ")")
                           or doc[start].text in (".", ")", "(") or doc[start].lower_ in ("and", "or", "to")):
        start += 1
    while end > start and (doc[end - 1].is_punct or doc[end - 1].is_space):
        end -= 1
    return start, end


def _is_demand_item(doc: Doc, start: int, end: int, tag: Tagger, nominal: bool = False) -> bool:
    """Whether tokens start..end read as an act demanded: a verb phrase once bullets are off, or
    (`nominal`) a noun phrase with an article and a common noun, not names ("Egypt and Jordan")."""
    start, end = _strip(doc, start, end)
    if end - start < 2 or end - start > 40:
        return False
    if nominal:
        words = doc[start:end]
        return words[0].tag_ == "DT" and words[0].lower_ in ("a", "an", "the") and any(
            t.pos_ == "NOUN" and not t.ent_type_ for t in words)
    tagged = tag(_ITEM_FRAME + doc[start:end].text)
    first = tagged[2] if len(tagged) > 2 else None  # the word after "They must"
    return first is not None and first.pos_ == "VERB" and first.tag_ == "VB"


# -- who announces ---------------------------------------------------------------------------


def _announcer(doc: Doc, colon: Token, events: Sequence[Event],
               r: Resolver) -> tuple[Actor, Actor | None, str] | None:
    """Source, target and trigger word of the list that `colon` opens, or None if it is no
    list of demands."""
    sent = colon.sent
    here = [e for e in events if e.type is EventType.DEMAND and e.start == sent.start_char
            and e.source is not None and e.source.code is not None]
    if here:
        return here[0].source, here[0].target, here[0].trigger  # type: ignore[return-value]
    r.last_demander = next((e.source for e in reversed(events) if e.type is EventType.DEMAND
                            and e.start < sent.start_char and e.source is not None), None)
    nouns = [t for t in doc[sent.start:colon.i] if t.pos_ == "NOUN" and t.lemma_.lower() in r.words.list_nouns]
    verbs = [t for t in doc[sent.start:colon.i] if t.pos_ == "VERB" and t.lemma_.lower() in r.words.list_verbs]
    if verbs and colon.i > 0 and doc[colon.i - 1].lower_ in ("to", "that", "must", "should"):
        nouns = nouns + verbs[-1:]  # "The list requires Doha to:", "insisted that Qatar:"
    if not nouns:
        return None
    for anchor in reversed(nouns):
        found = _clause_roles(anchor, r, colon.i)
        if found is not None:
            return found
    # "The demands include:": the demands made in the sentence before
    if sent.start == 0:
        return None
    before = doc[sent.start - 1].sent
    earlier = [e for e in events if e.type is EventType.DEMAND and e.start == before.start_char
               and e.source is not None and e.source.code is not None]
    if earlier:
        return earlier[-1].source, earlier[-1].target, nouns[-1].text  # type: ignore[return-value]
    for noun in reversed([t for t in before if t.pos_ == "NOUN" and t.lemma_.lower() in r.words.list_nouns]):
        found = _clause_roles(noun, r, before.end)
        if found is not None:
            return found[0], found[1], nouns[-1].text
    return None


def _clause_roles(noun: Token, r: Resolver, limit: int) -> tuple[Actor, Actor | None, str] | None:
    """Who names the demands `noun` and to whom: "South Korea set out its conditions for talks
    with North Korea", "the EU presented Serbia with five demands"."""
    verb = noun if noun.pos_ == "VERB" else noun.head
    for _ in range(4):
        if verb.pos_ in ("VERB", "AUX") or verb.head == verb:
            break
        verb = verb.head
    if verb.pos_ not in ("VERB", "AUX"):
        return None
    subj = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")), None)
    if subj is None or _in(noun, subj):
        return None
    if subj.lemma_.lower() in r.words.document_nouns and r.last_demander is None:
        return None  # "The list requires ... to:": whoever handed the list over, said before
    source = r.resolve(subj)
    if source is None or source.code is None:
        return None
    own = {t.i for t in subj.subtree}
    target = r.first_in((t.i for t in verb.subtree if t.i not in own and t.i < limit), {source.code},
                        strict=True)
    return source, target, noun.text


def _in(token: Token, root: Token) -> bool:
    return token == root or any(a == root for a in token.ancestors)

