"""Actor coding: the actor dictionary, the `newswatch_actors` component and `actor_of`.

The dictionary (`pipeline/data/actors.jsonl`, built by `scripts/build_actors.py`) has one alias
a line in EntityRuler form (`label`, `pattern`, `id`) plus `code`, `name` and `type`. spaCy's
`SpanRuler` matches the aliases, so each match carries its actor id as `span.id_` (and, once
written to `doc.ents`, `ent_id_`); what is newswatch's own sits around the ruler's output as small
functions: case checks ("turkey" is not Turkey), aliases glued to a word ("U.S.-led"), merging
with the statistical NER, and coding people by title, apposition, earlier mention, the dateline
or context. Its word lists (titles, agent heads, ...) come in through the factory config
(`words`, as `load_word_lists` reads them from `words.tsv`).

It sets `doc.spans["actors"]` (every mention; `span._.actor` is its `Actor`), `doc._.actors`
(the unique actors of the doc, in order of first mention), `doc._.dateline` (the actor of a
dateline such as "MOSCOW —", or None) and `doc._.actor_index` (the mentions indexed by token
position, which `actor_of` reads), and rewrites `doc.ents` so that dictionary entities win.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newswatch.pipeline import _spacy  # noqa: F401  # before spaCy: keeps PyTorch out
from spacy.language import Language
from spacy.pipeline import SpanRuler
from spacy.tokens import Doc, Span, Token
from spacy.util import filter_spans

from newswatch.pipeline.errors import PatternError
from newswatch.pipeline.jsonl import read_jsonl
from newswatch.pipeline.records import Actor
from newswatch.pipeline.wordlist import pick_word_lists

__all__ = ["ActorIndex", "ActorRecognizer", "ActorWords", "actor_of", "index_actors", "load_actor_patterns"]

SPAN_KEY = "actors"
ACTOR_TYPES = ("state", "organisation", "person", "none")
_RULER_FIELDS = ("label", "pattern", "id")

if not Doc.has_extension("actors"):
    Doc.set_extension("actors", default=())
if not Doc.has_extension("dateline"):
    Doc.set_extension("dateline", default=None)
if not Doc.has_extension("actor_index"):
    Doc.set_extension("actor_index", default=None)
if not Span.has_extension("actor"):
    Span.set_extension("actor", default=None)

# Grammar, not vocabulary: dependency labels, prepositions and punctuation.
_POSTED_PREPS = frozenset({"to", "in", "at", "with", "toward", "towards", "on", "against"})
_PREP_PLACES = frozenset({"of", "in", "inside", "within"})
_MODIFIER_DEPS = frozenset({"amod", "compound", "poss", "nmod", "npadvmod", "nummod"})
_DASHES = frozenset({"—", "–", "-", "--", "(", ",", ":", "―"})


@dataclass(frozen=True, slots=True)
class ActorWords:
    """The word lists of actor coding, as loaded from `words.tsv` (one field a list)."""

    titles: frozenset[str]  # words of office that introduce a person
    spokes: frozenset[str]  # titles of people who speak for someone named just before
    home_titles: frozenset[str]  # domestic offices: the holder leads the state of the sentence
    other_side: frozenset[str]  # "Kuleba's Polish counterpart" acts for Poland
    agent_heads: frozenset[str]  # act for the state that sends them ("troops", "embassy")
    home_bodies: frozenset[str]  # unqualified, belong to the dateline's state ("government")
    based: frozenset[str]  # "a group based in Trinidad"
    org_words: frozenset[str]  # words of an organisation's name, never of a person's

    @classmethod
    def from_lists(cls, lists: Mapping[str, Iterable[str]]) -> ActorWords:
        """Pick this class's lists out of `lists` (as `load_word_lists` returns them).

        Raises DataFileError naming the lists that are missing.
        """
        return pick_word_lists(cls, lists, "newswatch_actors")


@dataclass(frozen=True, slots=True)
class ActorIndex:
    """The actor mentions of one Doc, indexed by token position once, so lookups stay O(1).

    `spans` is the Doc's `doc.spans["actors"]` group (or the component's working list), ordered by
    start; `longest[i]` is the number of the longest mention covering token `i` (-1: none);
    `by_start` and `by_id` list mention numbers by start token and by actor id. `refer` and
    `by_code` come from the actor dictionary, `words` from the word lists.
    """

    spans: Sequence[Span]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    longest: tuple[int, ...]
    by_start: Mapping[int, tuple[int, ...]]
    by_id: Mapping[str, tuple[int, ...]]
    refer: Mapping[str, tuple[str, ...]]
    by_code: Mapping[str, Actor]
    words: ActorWords

    def at(self, i: int) -> int | None:
        """The number of the longest mention covering token `i`, or None."""
        k = self.longest[i] if 0 <= i < len(self.longest) else -1
        return k if k >= 0 else None

    def starting(self, left: int, right: int) -> list[int]:
        """The numbers of the mentions that start in tokens `left`..`right - 1`, in order."""
        found = [k for i in range(max(left, 0), right) for k in self.by_start.get(i, ())]
        return sorted(found)

    def within(self, left: int, right: int) -> list[int]:
        """The numbers of the mentions that lie inside tokens `left`..`right - 1`, in order."""
        return [k for k in self.starting(left, right) if self.ends[k] <= right]

    def actor(self, k: int) -> Actor | None:
        """The actor of mention `k`."""
        found = self.spans[k]._.actor
        return found if isinstance(found, Actor) else None


def index_actors(
    spans: Sequence[Span], n_tokens: int, refer: Mapping[str, tuple[str, ...]],
    by_code: Mapping[str, Actor], words: ActorWords,
) -> ActorIndex:
    """Index `spans` (ordered by start) by token position in one pass over their tokens."""
    listed = list(spans)  # one pass; the index keeps `spans` itself, not this copy
    longest = [-1] * n_tokens
    by_start: dict[int, list[int]] = {}
    by_id: dict[str, list[int]] = {}
    for k, s in enumerate(listed):
        by_start.setdefault(s.start, []).append(k)
        by_id.setdefault(s.id_, []).append(k)
        size = s.end - s.start
        for i in range(s.start, min(s.end, n_tokens)):
            best = longest[i]
            if best < 0 or size > listed[best].end - listed[best].start:
                longest[i] = k
    return ActorIndex(
        spans=spans, starts=tuple(s.start for s in listed), ends=tuple(s.end for s in listed),
        longest=tuple(longest), by_start={i: tuple(ks) for i, ks in by_start.items()},
        by_id={i: tuple(ks) for i, ks in by_id.items()}, refer=refer, by_code=by_code, words=words,
    )


def load_actor_patterns(path: Path) -> list[dict[str, Any]]:
    """Read `actors.jsonl`: one alias a line with `label`, `pattern`, `id`, `code`, `name`, `type`.

    Returns the lines as dicts, ready for `ActorRecognizer.add_patterns`. Raises PatternError
    naming the file, the line and the field of the first bad line.
    """
    patterns: list[dict[str, Any]] = []
    for where, entry in read_jsonl(path, what="actor dictionary", setting="NEWSWATCH_ACTORS"):
        problem = _check_entry(entry)
        if problem:
            raise PatternError(f"{where}: {problem}")
        patterns.append(entry)
    return patterns


def _check_entry(entry: dict[str, Any]) -> str | None:
    """Return what is wrong with one actor line, naming the field, or None."""
    for field in ("label", "id", "type"):
        if not isinstance(entry.get(field), str) or not entry[field]:
            return f"field {field!r} must be a non-empty string"
    pattern = entry.get("pattern")
    if isinstance(pattern, list):
        if not pattern or not all(isinstance(t, dict) and t for t in pattern):
            return "field 'pattern' must be a string or a non-empty list of token patterns"
    elif not isinstance(pattern, str) or not pattern.strip():
        return "field 'pattern' must be a string or a non-empty list of token patterns"
    if entry["type"] not in ACTOR_TYPES:
        return f"field 'type' must be one of {', '.join(ACTOR_TYPES)}"
    if entry["type"] != "none":
        if not isinstance(entry.get("name"), str) or not entry["name"]:
            return "field 'name' must be a non-empty string"
        if not isinstance(entry.get("code"), str) or not entry["code"]:
            return "field 'code' must be a non-empty string"
    refer = entry.get("refer", [])
    if not isinstance(refer, list) or not all(isinstance(x, str) for x in refer):
        return "field 'refer' must be a list of strings"
    return None


class ActorRecognizer:
    """The `newswatch_actors` component: spaCy's SpanRuler over the dictionary, then NER persons
    and context coding."""

    def __init__(self, nlp: Language, name: str, validate: bool, words: ActorWords) -> None:
        self.name = name
        self.words = words
        self.make_doc = nlp.make_doc
        # The ruler tokenizes its phrase patterns with the pipeline it is given; a pipeline with
        # the same vocab and tokenizer and no pipes keeps that from running the parser on them.
        tokenizing = Language(nlp.vocab)
        tokenizing.tokenizer = nlp.tokenizer
        self.ruler = SpanRuler(
            tokenizing, name=f"{name}_ruler", spans_key=None, phrase_matcher_attr="LOWER",
            validate=validate,
        )
        self.actors: dict[tuple[str, str], Actor | None] = {}  # (id, label) -> actor; None: no actor
        self.by_code: dict[str, Actor] = {}
        self.refer: dict[str, tuple[str, ...]] = {}
        self.surnames: set[tuple[str, str]] = set()  # (id, lower-case words) of surname aliases
        self.single: dict[str, tuple[str, str]] = {}  # one-word alias -> (id, label), for "U.S.-led"
        self.lower_ok: set[str] = set()

    def initialize(
        self, get_examples: Any = None, *, nlp: Language | None = None,
        patterns: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Add `patterns` (as from `load_actor_patterns`) when the pipeline is initialized."""
        if patterns:
            self.add_patterns(patterns)

    def add_patterns(self, patterns: Iterable[dict[str, Any]]) -> None:
        """Add actor lines: `label`, `pattern` and `id` go to the SpanRuler, the rest stays here."""
        ruler_patterns: list[dict[str, Any]] = []
        for entry in patterns:
            problem = _check_entry(entry)
            if problem:
                raise PatternError(f"actor pattern {entry!r}: {problem}")
            ruler_patterns.append({f: entry[f] for f in _RULER_FIELDS})
            actor = None
            if entry["type"] != "none":
                actor = Actor(name=entry["name"], code=entry["code"], type=entry["type"])
                if entry["id"] == entry["code"]:
                    self.by_code.setdefault(entry["code"], actor)
            self.actors.setdefault((entry["id"], entry["label"]), actor)
            for noun in entry.get("refer", []):
                self.refer[noun.lower()] = (*self.refer.get(noun.lower(), ()), entry["id"])
            surname = bool(entry.get("surname"))
            pattern = entry["pattern"]
            if isinstance(pattern, str):
                words = pattern.split()
                self.lower_ok.update(w.lower() for w in words if w.islower())
                if surname:
                    self.surnames.add((entry["id"], " ".join(t.lower_ for t in self.make_doc(pattern))))
                elif len(words) == 1 and "-" not in pattern:
                    self.single.setdefault(pattern.lower(), (entry["id"], entry["label"]))
            elif len(pattern) == 1 and isinstance(pattern[0].get("ORTH"), str):
                self.single.setdefault(pattern[0]["ORTH"], (entry["id"], entry["label"]))  # "US-led"
        self.ruler.add_patterns(ruler_patterns)

    def __call__(self, doc: Doc) -> Doc:
        matched = self._dictionary_spans(doc)
        spans = self._merge_with_ner(doc, matched)
        parsed = doc.has_annotation("DEP")
        working = self._index(spans, len(doc))
        _code_people(doc, working, parsed)
        if parsed:
            _code_bodies(working)
        doc.spans[SPAN_KEY] = [s for s in spans if s._.actor is not None]
        index = self._index(doc.spans[SPAN_KEY], len(doc))
        doc._.actor_index = index
        doc._.dateline = _dateline(doc, index)
        doc._.actors = tuple(dict.fromkeys(index.actor(k) for k in range(len(index.starts))))
        _rewrite_ents(doc, list(doc.spans[SPAN_KEY]))
        return doc

    def _index(self, spans: Sequence[Span], n_tokens: int) -> ActorIndex:
        return index_actors(spans, n_tokens, self.refer, self.by_code, self.words)

    # -- dictionary ---------------------------------------------------------------------------

    def _dictionary_spans(self, doc: Doc) -> list[Span]:
        """The SpanRuler's matches (each with its actor id as `span.id_`) that fit in case."""
        found = [span for span in self.ruler.match(doc) if self._case_fits(span)]
        taken = {t.i for s in found for t in s}
        found.extend(self._glued(doc, taken))
        spans = []
        for span in filter_spans(found):
            actor = self.actors.get((span.id_, span.label_))
            if actor is None:
                continue  # a phrase that names no actor ("New Mexico") only blocks shorter ones
            span._.actor = actor
            spans.append(span)
        return spans

    def _glued(self, doc: Doc, taken: set[int]) -> Iterator[Span]:
        """"U.S.-led", "UN-brokered", "NATO-member": a one-word alias glued to a word by a hyphen."""
        for token in doc:
            if "-" in token.text and token.i not in taken and token.text[0].isupper():
                head = token.text.split("-", 1)[0]
                glued = self.single.get(head.lower()) or self.single.get(head)
                if glued is not None:
                    yield Span(doc, token.i, token.i + 1, label=glued[1], span_id=glued[0])

    def _case_fits(self, span: Span) -> bool:
        """Reject "turkey" for Turkey and "us" for US: a lower-case word must be lower in the alias."""
        for token in span:
            if token.is_lower and token.is_alpha and token.text not in self.lower_ok:
                return False
        if (span.id_, " ".join(t.lower_ for t in span)) in self.surnames:
            # a surname alone must be a proper noun, not "Straw polls"
            return all(t.pos_ == "PROPN" or t.ent_type_ == "PERSON" for t in span)
        return True

    # -- NER ----------------------------------------------------------------------------------

    def _merge_with_ner(self, doc: Doc, matched: list[Span]) -> list[Span]:
        """Add NER persons and organisations the dictionary did not match."""
        by_token = {t.i: s for s in matched for t in s}
        extra: list[Span] = []
        drop: set[int] = set()
        for found in doc.ents:
            if found.label_ not in ("PERSON", "ORG"):
                continue
            trimmed = _trim(found, self.words)
            if trimmed is None:
                continue
            ent = trimmed
            inside = list(dict.fromkeys(by_token[t.i] for t in ent if t.i in by_token))
            if ent.label_ == "PERSON":
                if inside and all(s.label_ == "PERSON" for s in inside):
                    if any(s.start <= ent.start and s.end >= ent.end for s in inside):
                        continue  # the dictionary knows this person
                    known = inside[-1]
                    drop.update(id(s) for s in inside)
                    first = known._.actor.name.split()[0].lower()
                    if known.end == ent.end and doc[ent.start].lower_ == first:
                        # "Vladimir V. Putin": a longer form of a known name
                        span = Span(doc, ent.start, ent.end, label="PERSON", span_id=known.id_)
                        span._.actor = known._.actor
                        extra.append(span)
                        continue
                    # "Sharon Smith", "Jimmy Lai": another person who shares a word with one we know
                    span = Span(doc, ent.start, ent.end, label="PERSON")
                    span._.actor = Actor(name=_clean_name(span.text), code=None, type="person")
                    extra.append(span)
                    continue
                if any(s.start <= ent.start and s.end >= ent.end for s in inside):
                    continue  # "Jordan" matched as a whole; NER's person is the same word
                covered = [s for s in inside if s.label_ != "PERSON" and s.start >= ent.start and s.end <= ent.end]
                if covered and _title_cased(ent.sent):
                    continue  # a headline: NER guesses names from capitals, the dictionary knows
                if covered and any(s.label_ == "GPE" for s in covered):
                    drop.update(id(s) for s in covered)  # "Michael Jordan": a name, not a state
                elif covered:
                    # "Turkish President Recep Tayyip Erdogan" read as one name: cut at the title
                    start = max(s.end for s in covered)
                    while start < ent.end and doc[start].lower_ in self.words.titles:
                        start += 1
                    if start >= ent.end:
                        continue
                    ent = Span(doc, start, ent.end, label="PERSON")
                span = Span(doc, ent.start, ent.end, label="PERSON")
                span._.actor = Actor(name=_clean_name(span.text), code=None, type="person")
                extra.append(span)
            else:
                if inside and all(s.start <= ent.start and s.end >= ent.end for s in inside):
                    continue
                if any(s.start < ent.start or s.end > ent.end for s in inside):
                    continue  # overlaps a dictionary entity across its edge: trust the dictionary
                named = _person_read_as_org(doc, ent, inside, self.words)
                if named is not None:  # "Anatoly Petrenko, Russia's ambassador" tagged ORG
                    named._.actor = Actor(name=_clean_name(named.text), code=None, type="person")
                    extra.append(named)
                    continue
                codes = [s._.actor.code for s in inside if s._.actor.type != "person"]
                if inside and len(ent) <= max(len(s) for s in inside):
                    continue
                span = Span(doc, ent.start, ent.end, label="ORG")
                span._.actor = Actor(name=ent.text, code=codes[0] if codes else None, type="organisation")
                if codes:
                    drop.update(id(s) for s in inside)
                    extra.append(span)
                    # the state inside stays a mention of its own ("Kenya" in "Kenya Anti-...")
                    extra.extend(s for s in inside)
                    continue
                extra.append(span)
        spans = [s for s in matched if id(s) not in drop] + extra
        return _non_overlapping(spans)


def _person_read_as_org(doc: Doc, ent: Span, inside: list[Span], words: ActorWords) -> Span | None:
    """The name in an NER "organisation" that is a titled person ("the U.S. Igor Semenov")."""
    start = max([s.end for s in inside if s.start == ent.start] or [ent.start])
    name = doc[start:ent.end]
    if not 2 <= len(name) <= 4 or any(s.start >= start for s in inside):
        return None
    if not all(t.is_title and t.is_alpha and t.lower_ not in words.org_words for t in name):
        return None
    before = {t.lower_ for t in doc[max(ent.start - 4, 0):start]}
    titled = bool(before & words.titles) or any(
        c.dep_ == "appos" and any(t.lower_ in words.titles for t in c.subtree) for c in name.root.children
    )
    return Span(doc, name.start, name.end, label="PERSON") if titled else None


def _non_overlapping(spans: list[Span]) -> list[Span]:
    """Keep nested state mentions inside organisations; otherwise the longest span wins."""
    outer = filter_spans(spans)
    keep = set(id(s) for s in outer)
    around = {i: o for o in outer for i in range(o.start, o.end)}  # outer spans do not overlap
    result = list(outer)
    for s in spans:
        if id(s) in keep:
            continue
        o = around.get(s.start)
        if (o is not None and s.end <= o.end and o._.actor is not None
                and o._.actor.type == "organisation"):
            result.append(s)
    return sorted(result, key=lambda s: (s.start, -s.end))


def _trim(ent: Span, words: ActorWords) -> Span | None:
    """Strip leading determiners, titles and trailing possessives from an NER entity."""
    start, end = ent.start, ent.end
    doc = ent.doc
    if "\n" in ent.text:
        return None  # runs across a line break: a caption or heading glued to the next line
    while start < end and (doc[start].lower_ in ("the", "a", "an") or
                           (ent.label_ == "PERSON" and doc[start].lower_.rstrip(".") in words.titles)):
        start += 1
    while end > start and doc[end - 1].text in ("'s", "’s", "'", "’", ".", ","):
        end -= 1
    if start >= end:
        return None
    return Span(doc, start, end, label=ent.label_)


def _title_cased(sent: Span) -> bool:
    """Whether a sentence is written In Title Case, as headlines are."""
    words = [t for t in sent if t.is_alpha and len(t) > 3]
    return len(words) >= 3 and sum(t.is_title or t.is_upper for t in words) >= 0.8 * len(words)


def _clean_name(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# -- people ---------------------------------------------------------------------------------------


def _code_people(doc: Doc, index: ActorIndex, parsed: bool) -> None:
    """Give each person its code: title or apposition, dictionary, earlier mention, context.

    Titles and context need the dependency parse; without one only the dictionary and earlier
    mentions count.
    """
    dateline = _dateline(doc, index)
    known: dict[str, Actor] = {}  # surname or full name (lower) -> the person met earlier
    for k, span in enumerate(index.spans):
        actor = span._.actor
        if actor is None or actor.type != "person":
            continue
        # a known person is recoded only by a title right before the name ("Dutch Prime Minister
        # Mark Rutte"), not by an apposition, which in lists of leaders may belong to a neighbour
        titled = _title_actor(doc, k, index, appositions=actor.code is None) if parsed else None
        if titled is not None and titled.code is not None and titled.code != actor.code:
            actor = Actor(name=actor.name, code=titled.code, type="person")
        elif actor.code is None:
            earlier = known.get(actor.name.lower()) or known.get(actor.name.split()[-1].lower())
            if earlier is not None:
                actor = earlier
            elif parsed and _has_title(doc, span, index.words):
                fallback = _context_actor(doc, span, index, dateline)
                if fallback is not None:
                    actor = Actor(name=actor.name, code=fallback.code, type="person")
        span._.actor = actor
        known.setdefault(actor.name.lower(), actor)
        if actor.code is not None:  # a later "Ryabkov" (or "Zhao" of "Zhao Lijian") is this person
            words = actor.name.split()
            known.setdefault(words[-1].lower(), actor)
            if len(words) > 1:
                known.setdefault(words[0].lower(), actor)


def _code_bodies(index: ActorIndex) -> None:
    """Code an organisation the dictionary does not know by its owner: "Israel's Cabinet"."""
    for k, span in enumerate(index.spans):
        actor = span._.actor
        if actor is None or actor.type != "organisation" or actor.code is not None:
            continue
        owner = _modifier_actor(span.root, index, exclude=k) or _place_actor(span.root, index)
        if owner is not None and owner.code is not None:
            span._.actor = Actor(name=actor.name, code=owner.code, type="organisation")


def _np_window(doc: Doc, span: Span) -> tuple[int, int]:
    """The tokens left of a person's name inside its noun phrase, within the sentence."""
    root = span.root
    left = root.left_edge.i
    sent_start = span.sent.start if doc.has_annotation("SENT_START") or doc.has_annotation("DEP") else 0
    left = max(left, sent_start, span.start - 8)
    for i in range(span.start - 1, left - 1, -1):
        if doc[i].text in (",", ";", "(", ")", '"', "“", "”") or doc[i].pos_ == "VERB":
            return i + 1, span.start
    return left, span.start


def _title_actor(doc: Doc, k: int, index: ActorIndex, appositions: bool = True) -> Actor | None:
    """The state or organisation named by person `k`'s title or apposition, if any."""
    span = index.spans[k]
    left, right = _np_window(doc, span)
    found = [j for j in index.within(left, right) if j != k]
    # "X, Russia's deputy foreign minister" / "Russia's foreign minister, X"
    root = span.root
    appos_tokens: set[int] = set()
    for child in root.children if appositions else ():
        if child.dep_ == "appos" and child.i > span.end - 1:
            appos_tokens.update(t.i for t in child.subtree if not _clause(t, child))
    if appositions and root.dep_ == "appos" and root.head.i < span.start:
        head = root.head
        appos_tokens.update(t.i for t in head.subtree if t.i < span.start and not _clause(t, head))
    if appos_tokens:
        found += [j for j in sorted(j for i in appos_tokens for j in index.by_start.get(i, ()))
                  if j != k and all(i in appos_tokens for i in range(index.starts[j], index.ends[j]))]
    found = [j for j in found if not _posted_to(index.spans[j], span)]
    for j in sorted(found, key=lambda j: -index.starts[j]):
        actor = index.actor(j)
        if actor is None:
            continue
        if actor.type == "person":
            if actor.code is not None:
                return index.by_code.get(actor.code, actor)
            continue
        if actor.code is not None:
            return actor
    for i in sorted(set(range(left, right)) | appos_tokens):  # "X, the alliance's secretary-general"
        if doc[i].pos_ == "NOUN" and doc[i].dep_ in ("poss", "compound"):
            referred = _referred_actor(doc[i], index)
            if referred is not None:
                return referred
    return None


def _posted_to(span: Span, person: Span) -> bool:
    """Whether a mention is where a title holder is sent: "ambassador to the U.S.", "envoy in Kyiv"."""
    i = span.start - 1
    while i >= 0 and span.doc[i].lower_ in ("the", "a", "an"):
        i -= 1
    if i >= 0 and span.doc[i].lower_ in _POSTED_PREPS and span.doc[i].pos_ == "ADP":
        return True  # "... to the U.S. Igor Semenov", however the parser attached it
    token = span.root
    for _ in range(4):
        if token.head.i == token.i or token.dep_ == "appos" or person.start <= token.head.i < person.end:
            return False
        token = token.head
        if token.dep_ == "prep":
            return token.lower_ in _POSTED_PREPS
    return False


def _clause(token: Token, top: Token) -> bool:
    """Whether `token` sits in a relative clause or verb phrase below `top`."""
    while token.i != top.i and token.head.i != token.i:
        if token.dep_ in ("relcl", "acl", "advcl", "ccomp", "xcomp"):
            return True
        token = token.head
    return False


def _has_title(doc: Doc, span: Span, words: ActorWords) -> bool:
    left, right = _np_window(doc, span)
    found = {doc[i].lower_ for i in range(left, right)}
    root = span.root
    if root.dep_ == "appos":
        found.add(root.head.lower_)
    for child in root.children:
        if child.dep_ == "appos":
            found.update(t.lower_ for t in child.subtree)
    return bool(found & words.titles)


def _context_actor(doc: Doc, span: Span, index: ActorIndex, dateline: Actor | None) -> Actor | None:
    """For a titled person with no nationality: who the text is about just before, or the dateline."""
    left, right = _np_window(doc, span)
    words = {doc[i].lower_ for i in range(left, right)}
    if span.root.dep_ == "appos":
        words.add(span.root.head.lower_)
    previous = _previous_subject(doc, span, index)
    if words & index.words.spokes and previous is not None:
        return previous
    if dateline is not None:
        return dateline
    if words & index.words.home_titles:
        # "Rebels in Ivory Coast rejected an appeal from President X": a head of state or
        # government named in a sentence about one state only leads that state
        sent = span.sent
        codes: dict[str | None, Actor] = {}
        for j in index.starting(sent.start, sent.end):
            actor = index.actor(j)
            if actor is not None and actor.type == "state":
                codes[actor.code] = actor
        if len(codes) == 1:
            return next(iter(codes.values()))
    return previous


def _previous_subject(doc: Doc, span: Span, index: ActorIndex) -> Actor | None:
    """The state or organisation that is the subject of the sentence before the person's."""
    sent = span.sent
    if sent.start == 0:
        return None
    before = doc[sent.start - 1].sent
    for j in index.within(before.start, before.end):
        actor = index.actor(j)
        if actor is None or actor.type == "person" or not actor.code:
            continue
        s = index.spans[j]
        if s.root.dep_ in ("nsubj", "nsubjpass") or s.root.head.dep_ in ("nsubj", "nsubjpass"):
            return actor
    return None


# -- dateline and ents ------------------------------------------------------------------------------


def _dateline(doc: Doc, index: ActorIndex) -> Actor | None:
    """The actor of a dateline at the start of the text: "MOSCOW —", "BEIJING (Reuters) -"."""
    start = 0
    while start < len(doc) and doc[start].is_space:
        start += 1
    first = index.by_start.get(start)
    if not first:
        return None
    s = index.spans[first[0]]
    actor = index.actor(first[0])
    if actor is None or actor.type == "person":
        return None
    nxt = doc[s.end] if s.end < len(doc) else None
    upper = all(t.is_upper or not t.is_alpha for t in s)
    if nxt is not None and (nxt.text in _DASHES or (upper and nxt.is_punct)):
        return actor
    return None


def _rewrite_ents(doc: Doc, spans: list[Span]) -> None:
    """Make dictionary and coded entities win over the statistical NER in `doc.ents`."""
    ours = filter_spans(spans)
    taken = {t.i for s in ours for t in s}
    others = [e for e in doc.ents if not any(t.i in taken for t in e)]
    doc.set_ents(sorted(list(ours) + others, key=lambda s: s.start))


# -- actor_of -----------------------------------------------------------------------------------------


def actor_of(token: Token) -> Actor | None:
    """Return the actor denoted by the noun phrase headed by `token`, or None.

    The head's own mention wins (a person, "Washington"); then a state or organisation among its
    modifiers ("Palestinian officials", "Russia's deputy foreign minister"); then a place it is
    of or in ("rebels in Ivory Coast"); then a generic noun that refers back to an organisation
    of the text ("the alliance" -> NATO). Reads the mentions from `doc._.actor_index`, which
    `newswatch_actors` sets; on a Doc it has not processed, returns None.
    """
    doc = token.doc
    index = doc._.actor_index
    if not isinstance(index, ActorIndex):
        return None
    k = index.at(token.i)
    own = index.actor(k) if k is not None else None
    if not doc.has_annotation("DEP"):  # without a parse only the mention itself can tell
        return own
    if k is not None and own is not None:
        if index.spans[k].label_ == "NORP" and own.type == "state" and token.pos_ in ("NOUN", "PROPN"):
            # "Bosnian Serbs", "ethnic Albanians in south Serbia": where they live, if said
            place = _modifier_actor(token, index, exclude=k) or _place_actor(token, index)
            if place is not None and place.type == "state":
                return place
        if own.code is None:  # "Israel's Cabinet": an unknown body coded by its owner
            owner = _modifier_actor(token, index, exclude=k) or _place_actor(token, index)
            if owner is not None and owner.code is not None:
                return Actor(name=own.name, code=owner.code, type=own.type)
        return own
    found = _modifier_actor(token, index, exclude=None)
    if found is not None:
        return found
    if token.lower_ not in index.words.agent_heads:
        found = _place_actor(token, index)
        if found is not None:
            return found
    found = _referred_actor(token, index)
    if found is not None:
        return found
    if token.lemma_.lower() in index.words.home_bodies and doc._.dateline is not None and not any(
        c.dep_ in _MODIFIER_DEPS or c.dep_ == "prep" for c in token.children
    ):
        return doc._.dateline  # type: ignore[no-any-return]  # "the government" under "ANKARA —"
    return _unknown_body(token, index.words)


def _unknown_body(token: Token, words: ActorWords) -> Actor | None:
    """A named body the dictionary does not know ("the Third World Water Forum"): no code."""
    if token.ent_type_ not in ("ORG", "FAC", "WORK_OF_ART", "EVENT") or token.pos_ != "PROPN":
        return None
    doc = token.doc
    start = token.i
    while start > 0 and doc[start].ent_iob_ == "I":
        start -= 1
    end = token.i + 1
    while end < len(doc) and doc[end].ent_iob_ == "I":
        end += 1
    trimmed = _trim(Span(doc, start, end, label=token.ent_type_), words)
    if trimmed is not None:
        return Actor(name=_clean_name(trimmed.text), code=None, type="organisation")
    return None


def _modifier_actor(token: Token, index: ActorIndex, exclude: int | None) -> Actor | None:
    """A state or organisation (or a coded person's state) among the head's left modifiers."""
    hits: list[int] = []
    for child in token.children:
        if child.dep_ not in _MODIFIER_DEPS and not (child.dep_ == "det" and child.tag_ == "PRP$"):
            continue
        if child.dep_ == "poss" and token.lemma_.lower() in index.words.other_side:
            continue  # "Kuleba's Polish counterpart" is not Ukraine's
        for t in child.subtree:
            k = index.at(t.i)
            if k is not None and k != exclude and k not in hits and index.actor(k) is not None:
                hits.append(k)
    hits.sort(key=lambda k: index.starts[k])
    for k in hits:
        actor = index.actor(k)
        if actor is None or actor.code is None:
            continue
        if actor.type == "person":
            return index.by_code.get(actor.code) or actor
        return actor
    for child in token.children:  # "the alliance's secretary-general", "the bloc's ministers"
        if child.dep_ in ("poss", "compound") and child.pos_ == "NOUN":
            referred = _referred_actor(child, index)
            if referred is not None:
                return referred
    return None


def _place_actor(token: Token, index: ActorIndex) -> Actor | None:
    """A state the head is of or in: "rebels in Ivory Coast", "a group based in Trinidad"."""
    children = list(token.children)
    for child in token.children:
        if child.dep_ == "acl" and child.lemma_ in index.words.based:
            children.extend(child.children)
    for child in children:
        if child.dep_ == "prep" and child.lower_ in _PREP_PLACES:
            for t in child.subtree:
                k = index.at(t.i)
                actor = index.actor(k) if k is not None else None
                if actor is not None and actor.type == "state":
                    return actor
    return None


def _referred_actor(token: Token, index: ActorIndex) -> Actor | None:
    """"the alliance" -> the organisation of the text that the noun refers to (NATO)."""
    ids = index.refer.get(token.lemma_.lower()) or index.refer.get(token.lower_)
    if not ids:
        return None
    if any(c.dep_ in _MODIFIER_DEPS and _names_something(c, index) for c in token.children):
        return None  # "the Arab bloc", "the Saudi-led bloc"; but "the regional bloc" refers back
    before: int | None = None  # the last mention of one of `ids` that starts before the token
    after: int | None = None  # else the first that starts after it
    for actor_id in set(ids):
        ks = index.by_id.get(actor_id, ())
        starts = [index.starts[k] for k in ks]
        n = bisect_left(starts, token.i)
        if n > 0 and (before is None or ks[n - 1] > before):
            before = ks[n - 1]
        m = bisect_right(starts, token.i, lo=n)
        if m < len(ks) and (after is None or ks[m] < after):
            after = ks[m]
    if before is not None:
        return index.actor(before)
    return index.actor(after) if after is not None else None


def _names_something(modifier: Token, index: ActorIndex) -> bool:
    """Whether a modifier names an actor or a proper name ("Arab", "Saudi-led", "Warsaw")."""
    return any(t.pos_ == "PROPN" or t.ent_type_ or index.at(t.i) is not None for t in modifier.subtree)


@Language.factory(
    "newswatch_actors",
    default_config={"validate": True, "words": {}},
    requires=["doc.ents", "token.dep", "token.pos", "doc.sents"],
    assigns=["doc.ents", "doc.spans", "doc._.actors", "doc._.dateline", "doc._.actor_index",
             "span._.actor"],
)
def make_actor_recognizer(
    nlp: Language, name: str, validate: bool, words: dict[str, list[str]]
) -> ActorRecognizer:
    """Create the actor component from its word lists; the dictionary comes in with `add_patterns`."""
    return ActorRecognizer(nlp, name, validate, ActorWords.from_lists(words))
