"""Actor coding: the actor dictionary, the `newswatch_actors` component and `actor_of`.

The dictionary (`pipeline/data/actors.jsonl`, built by `scripts/build_actors.py`) has one alias
a line in EntityRuler form (`label`, `pattern`, `id`) plus `code`, `name` and `type`. The
component runs after the statistical NER; dictionary matches win over NER entities, and NER
persons and organisations the dictionary does not know are coded from context (titles,
appositions, the dateline, earlier mentions) or keep their name with code None.

It sets `doc.spans["actors"]` (every mention; `span._.actor` is its `Actor`), `doc._.actors`
(the unique actors of the doc, in order of first mention) and `doc._.dateline` (the actor of a
dateline such as "MOSCOW —", or None), and rewrites `doc.ents` so that dictionary entities win.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span, Token
from spacy.util import filter_spans

from newswatch.pipeline.errors import PatternError
from newswatch.pipeline.jsonl import read_jsonl
from newswatch.pipeline.records import Actor

__all__ = ["ActorRecognizer", "actor_of", "load_actor_patterns"]

SPAN_KEY = "actors"
ACTOR_TYPES = ("state", "organisation", "person", "none")

if not Doc.has_extension("actors"):
    Doc.set_extension("actors", default=())
if not Doc.has_extension("dateline"):
    Doc.set_extension("dateline", default=None)
if not Span.has_extension("actor"):
    Span.set_extension("actor", default=None)

# Words of office that introduce a person ("Deputy Foreign Minister Sergei Ryabkov").
_TITLES = frozenset(
    """president vice-president vice premier prime minister ministers secretary secretary-general
    chancellor king queen emir sheikh prince crown sultan ayatollah pope chairman chairwoman chair
    chief head leader spokesman spokeswoman spokesperson spokespeople envoy ambassador
    negotiator mediator aide adviser advisor official officials coordinator commissioner
    governor mayor general gen. lieutenant colonel admiral commander marshal director
    director-general deputy foreign defence defense interior finance state senator speaker
    representative undersecretary under-secretary attorney justice judge premier foreign-minister
    counterpart""".split()
)
# Titles of people who speak for someone named just before ("The Kremlin warned ... Spokesman X").
_SPOKES = frozenset(
    "spokesman spokeswoman spokesperson aide adviser advisor envoy press secretary".split()
)
# Domestic offices: their holder leads the state the sentence is about.
_HOME_TITLES = frozenset(
    "president vice-president prime premier king queen emir sultan chancellor".split()
)
# Heads whose owner is the other party: "Kuleba's Polish counterpart" acts for Poland.
_OTHER_SIDE = frozenset({"counterpart", "rival", "opponent", "adversary", "enemy"})
_POSTED_PREPS = frozenset({"to", "in", "at", "with", "toward", "towards", "on", "against"})
_PREP_PLACES = frozenset({"of", "in", "inside", "within"})
# Heads that act for the state that sends them, not for the place where they are.
_AGENT_HEADS = frozenset(
    """troops forces soldiers army military navy embassy embassies diplomats diplomat ambassador
    envoy envoys delegation negotiators warships aircraft jets units officers""".split()
)
# Bodies that, unqualified, belong to the state of the dateline ("ANKARA — The government said").
_HOME_BODIES = frozenset({"government", "ministry", "authority", "cabinet", "parliament"})
_BASED = frozenset({"base", "based", "locate", "located", "headquarter", "headquartered"})
_MODIFIER_DEPS = frozenset({"amod", "compound", "poss", "nmod", "npadvmod", "nummod"})
_DASHES = frozenset({"—", "–", "-", "--", "(", ",", ":", "―"})


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


@dataclass(frozen=True, slots=True)
class _Entry:
    """What one matcher key stands for: an actor and how its alias may match."""

    id: str
    label: str
    actor: Actor | None
    surname: bool


class ActorRecognizer:
    """The `newswatch_actors` component: dictionary matches, NER persons and context coding."""

    def __init__(self, nlp: Language, name: str = "newswatch_actors", validate: bool = True) -> None:
        self.nlp = nlp
        self.name = name
        self.validate = validate
        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.tokens = Matcher(nlp.vocab, validate=validate)
        self.entries: dict[int, _Entry] = {}
        self.by_id_label: dict[tuple[str, str], _Entry] = {}
        self.by_code: dict[str, Actor] = {}
        self.refer: dict[str, list[str]] = {}
        self.single: dict[str, int] = {}
        self.lower_ok: set[str] = set()

    def initialize(
        self, get_examples: Any = None, *, nlp: Language | None = None,
        patterns: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Add `patterns` (as from `load_actor_patterns`) when the pipeline is initialized."""
        if patterns:
            self.add_patterns(patterns)

    def add_patterns(self, patterns: Iterable[dict[str, Any]]) -> None:
        """Add actor lines; extra fields beyond EntityRuler's are kept here, not given to spaCy."""
        phrase_texts: dict[int, list[str]] = {}
        for entry in patterns:
            problem = _check_entry(entry)
            if problem:
                raise PatternError(f"actor pattern {entry!r}: {problem}")
            actor = None
            if entry["type"] != "none":
                actor = Actor(name=entry["name"], code=entry["code"], type=entry["type"])
                if entry["id"] == entry["code"]:
                    self.by_code.setdefault(entry["code"], actor)
            for noun in entry.get("refer", []):
                self.refer.setdefault(noun.lower(), []).append(entry["id"])
            surname = bool(entry.get("surname"))
            key_text = f"{entry['id']}|{entry['label']}|{int(surname)}"
            key = self.nlp.vocab.strings.add(key_text)
            self.entries[key] = _Entry(entry["id"], entry["label"], actor, surname)
            self.by_id_label.setdefault((entry["id"], entry["label"]), self.entries[key])
            pattern = entry["pattern"]
            if isinstance(pattern, str):
                phrase_texts.setdefault(key, []).append(pattern)
                words = pattern.split()
                self.lower_ok.update(w.lower() for w in words if w.islower())
                if len(words) == 1 and not surname and "-" not in pattern:
                    self.single.setdefault(pattern.lower(), key)
            else:
                self.tokens.add(key_text, [pattern])
                if len(pattern) == 1 and isinstance(pattern[0].get("ORTH"), str):
                    self.single.setdefault(pattern[0]["ORTH"], key)  # exact case: "US-led"
        for key, texts in phrase_texts.items():
            docs = [self.nlp.make_doc(text) for text in texts]
            self.phrases.add(self.nlp.vocab.strings[key], docs)

    def __call__(self, doc: Doc) -> Doc:
        matched = self._dictionary_spans(doc)
        spans = self._merge_with_ner(doc, matched)
        parsed = doc.has_annotation("DEP")
        _code_people(self, doc, spans, parsed)
        if parsed:
            _code_bodies(spans)
        spans = [s for s in spans if s._.actor is not None]
        doc.spans[SPAN_KEY] = spans
        doc._.dateline = _dateline(doc, spans)
        doc._.actors = tuple(dict.fromkeys(s._.actor for s in spans))
        _rewrite_ents(doc, spans)
        return doc

    # -- dictionary ---------------------------------------------------------------------------

    def _dictionary_spans(self, doc: Doc) -> list[Span]:
        found: list[Span] = []
        for key, start, end in self.phrases(doc):
            entry = self.entries[key]
            if not self._case_fits(doc[start:end], entry):
                continue
            found.append(Span(doc, start, end, label=entry.label, span_id=entry.id))
        for key, start, end in self.tokens(doc):
            entry = self.entries[key]
            found.append(Span(doc, start, end, label=entry.label, span_id=entry.id))
        taken = {t.i for s in found for t in s}
        for token in doc:  # "U.S.-led", "UN-brokered", "NATO-member": an alias glued to a word
            if "-" in token.text and token.i not in taken:
                head = token.text.split("-", 1)[0]
                glued = self.single.get(head.lower()) or self.single.get(head)
                if glued is not None and token.text[0].isupper():
                    entry = self.entries[glued]
                    found.append(Span(doc, token.i, token.i + 1, label=entry.label, span_id=entry.id))
        spans = []
        for span in filter_spans(found):
            entry = self._entry_of(span)
            if entry.actor is None:
                continue  # a phrase that names no actor ("New Mexico") only blocks shorter ones
            span._.actor = entry.actor
            spans.append(span)
        return spans

    def _entry_of(self, span: Span) -> _Entry:
        return self.by_id_label[(span.id_, span.label_)]

    def _case_fits(self, span: Span, entry: _Entry) -> bool:
        """Reject "turkey" for Turkey and "us" for US: a lower-case word must be lower in the alias."""
        for token in span:
            if token.is_lower and token.is_alpha and token.text not in self.lower_ok:
                return False
        if entry.surname:  # a surname alone must be a proper noun, not "Straw polls"
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
            trimmed = _trim(found)
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
                    while start < ent.end and doc[start].lower_ in _TITLES:
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
                named = _person_read_as_org(doc, ent, inside)
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


_ORG_WORDS = frozenset(
    """party ministry council company group forum committee commission agency office army
    front movement union league bank court assembly parliament government association
    organization organisation institute university news press times post service corp inc
    ltd fund alliance network coalition department bureau authority centre center""".split()
)


def _person_read_as_org(doc: Doc, ent: Span, inside: list[Span]) -> Span | None:
    """The name in an NER "organisation" that is a titled person ("the U.S. Igor Semenov")."""
    start = max([s.end for s in inside if s.start == ent.start] or [ent.start])
    name = doc[start:ent.end]
    if not 2 <= len(name) <= 4 or any(s.start >= start for s in inside):
        return None
    if not all(t.is_title and t.is_alpha and t.lower_ not in _ORG_WORDS for t in name):
        return None
    before = {t.lower_ for t in doc[max(ent.start - 4, 0):start]}
    titled = bool(before & _TITLES) or any(
        c.dep_ == "appos" and any(t.lower_ in _TITLES for t in c.subtree) for c in name.root.children
    )
    return Span(doc, name.start, name.end, label="PERSON") if titled else None


def _non_overlapping(spans: list[Span]) -> list[Span]:
    """Keep nested state mentions inside organisations; otherwise the longest span wins."""
    outer = filter_spans(spans)
    keep = set(id(s) for s in outer)
    result = list(outer)
    for s in spans:
        if id(s) in keep:
            continue
        if any(o.start <= s.start and s.end <= o.end and o._.actor is not None
               and o._.actor.type == "organisation" and o is not s for o in outer):
            result.append(s)
    return sorted(result, key=lambda s: (s.start, -s.end))


def _trim(ent: Span) -> Span | None:
    """Strip leading determiners, titles and trailing possessives from an NER entity."""
    start, end = ent.start, ent.end
    doc = ent.doc
    if "\n" in ent.text:
        return None  # runs across a line break: a caption or heading glued to the next line
    while start < end and (doc[start].lower_ in ("the", "a", "an") or
                           (ent.label_ == "PERSON" and doc[start].lower_.rstrip(".") in _TITLES)):
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


def _code_people(rec: ActorRecognizer, doc: Doc, spans: list[Span], parsed: bool) -> None:
    """Give each person its code: title or apposition, dictionary, earlier mention, context.

    Titles and context need the dependency parse; without one only the dictionary and earlier
    mentions count.
    """
    dateline = _dateline(doc, spans)
    known: dict[str, Actor] = {}  # surname or full name (lower) -> the person met earlier
    for span in spans:
        actor = span._.actor
        if actor is None or actor.type != "person":
            continue
        # a known person is recoded only by a title right before the name ("Dutch Prime Minister
        # Mark Rutte"), not by an apposition, which in lists of leaders may belong to a neighbour
        titled = _title_actor(doc, span, spans, rec, appositions=actor.code is None) if parsed else None
        if titled is not None and titled.code is not None and titled.code != actor.code:
            actor = Actor(name=actor.name, code=titled.code, type="person")
        elif actor.code is None:
            earlier = known.get(actor.name.lower()) or known.get(actor.name.split()[-1].lower())
            if earlier is not None:
                actor = earlier
            elif parsed and _has_title(doc, span):
                fallback = _context_actor(doc, span, spans, dateline)
                if fallback is not None:
                    actor = Actor(name=actor.name, code=fallback.code, type="person")
        span._.actor = actor
        known.setdefault(actor.name.lower(), actor)
        if actor.code is not None:  # a later "Ryabkov" (or "Zhao" of "Zhao Lijian") is this person
            words = actor.name.split()
            known.setdefault(words[-1].lower(), actor)
            if len(words) > 1:
                known.setdefault(words[0].lower(), actor)


def _code_bodies(spans: list[Span]) -> None:
    """Code an organisation the dictionary does not know by its owner: "Israel's Cabinet"."""
    for span in spans:
        actor = span._.actor
        if actor is None or actor.type != "organisation" or actor.code is not None:
            continue
        owner = _modifier_actor(span.root, spans, exclude=span) or _place_actor(span.root, spans)
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


def _title_actor(
    doc: Doc, span: Span, spans: list[Span], rec: ActorRecognizer, appositions: bool = True
) -> Actor | None:
    """The state or organisation named by the person's title or apposition, if any."""
    left, right = _np_window(doc, span)
    found = [s for s in spans if s.start >= left and s.end <= right and s is not span]
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
        found += [s for s in spans if s is not span and all(t.i in appos_tokens for t in s)]
    found = [s for s in found if not _posted_to(s, span)]
    for s in sorted(found, key=lambda s: -s.start):
        actor: Actor | None = s._.actor
        if actor is None:
            continue
        if actor.type == "person":
            if actor.code is not None:
                return rec.by_code.get(actor.code, actor)
            continue
        if actor.code is not None:
            return actor
    for i in sorted(set(range(left, right)) | appos_tokens):  # "X, the alliance's secretary-general"
        if doc[i].pos_ == "NOUN" and doc[i].dep_ in ("poss", "compound"):
            referred = _referred_actor(doc[i], spans)
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


def _has_title(doc: Doc, span: Span) -> bool:
    left, right = _np_window(doc, span)
    words = {doc[i].lower_ for i in range(left, right)}
    root = span.root
    if root.dep_ == "appos":
        words.add(root.head.lower_)
    for child in root.children:
        if child.dep_ == "appos":
            words.update(t.lower_ for t in child.subtree)
    return bool(words & _TITLES)


def _context_actor(doc: Doc, span: Span, spans: list[Span], dateline: Actor | None) -> Actor | None:
    """For a titled person with no nationality: who the text is about just before, or the dateline."""
    left, right = _np_window(doc, span)
    words = {doc[i].lower_ for i in range(left, right)}
    if span.root.dep_ == "appos":
        words.add(span.root.head.lower_)
    previous = _previous_subject(doc, span, spans)
    if words & _SPOKES and previous is not None:
        return previous
    if dateline is not None:
        return dateline
    if words & _HOME_TITLES:
        # "Rebels in Ivory Coast rejected an appeal from President X": a head of state or
        # government named in a sentence about one state only leads that state
        codes = {s._.actor.code: s._.actor for s in spans
                 if s.sent.start == span.sent.start and s._.actor is not None
                 and s._.actor.type == "state"}
        if len(codes) == 1:
            return next(iter(codes.values()))  # type: ignore[no-any-return]
    return previous


def _previous_subject(doc: Doc, span: Span, spans: list[Span]) -> Actor | None:
    """The state or organisation that is the subject of the sentence before the person's."""
    sent = span.sent
    if sent.start == 0:
        return None
    before = doc[sent.start - 1].sent
    candidates = [s for s in spans if s.start >= before.start and s.end <= before.end
                  and s._.actor is not None and s._.actor.type != "person" and s._.actor.code]
    for s in candidates:
        if s.root.dep_ in ("nsubj", "nsubjpass") or s.root.head.dep_ in ("nsubj", "nsubjpass"):
            return s._.actor  # type: ignore[no-any-return]
    return None


# -- dateline and ents ------------------------------------------------------------------------------


def _dateline(doc: Doc, spans: list[Span]) -> Actor | None:
    """The actor of a dateline at the start of the text: "MOSCOW —", "BEIJING (Reuters) -"."""
    start = 0
    while start < len(doc) and doc[start].is_space:
        start += 1
    for s in spans:
        if s.start != start:
            continue
        actor = s._.actor
        if actor is None or actor.type == "person":
            return None
        nxt = doc[s.end] if s.end < len(doc) else None
        upper = all(t.is_upper or not t.is_alpha for t in s)
        if nxt is not None and (nxt.text in _DASHES or (upper and nxt.is_punct)):
            return actor  # type: ignore[no-any-return]
        return None
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
    of the text ("the alliance" -> NATO). Needs a doc processed by `newswatch_actors`.
    """
    doc = token.doc
    spans = list(doc.spans[SPAN_KEY]) if SPAN_KEY in doc.spans else []
    own = _span_at(spans, token)
    if not doc.has_annotation("DEP"):  # without a parse only the mention itself can tell
        return own._.actor if own is not None else None
    if own is not None and own._.actor is not None:
        actor: Actor = own._.actor
        if own.label_ == "NORP" and actor.type == "state" and token.pos_ in ("NOUN", "PROPN"):
            # "Bosnian Serbs", "ethnic Albanians in south Serbia": where they live, if said
            place = _modifier_actor(token, spans, exclude=own) or _place_actor(token, spans)
            if place is not None and place.type == "state":
                return place
        if actor.code is None:  # "Israel's Cabinet": an unknown body coded by its owner
            owner = _modifier_actor(token, spans, exclude=own) or _place_actor(token, spans)
            if owner is not None and owner.code is not None:
                return Actor(name=actor.name, code=owner.code, type=actor.type)
        return actor
    found = _modifier_actor(token, spans, exclude=None)
    if found is not None:
        return found
    if token.lower_ not in _AGENT_HEADS:
        found = _place_actor(token, spans)
        if found is not None:
            return found
    found = _referred_actor(token, spans)
    if found is not None:
        return found
    if token.lemma_.lower() in _HOME_BODIES and doc._.dateline is not None and not any(
        c.dep_ in _MODIFIER_DEPS or c.dep_ == "prep" for c in token.children
    ):
        return doc._.dateline  # type: ignore[no-any-return]  # "the government" under "ANKARA —"
    return _unknown_body(token)


def _unknown_body(token: Token) -> Actor | None:
    """A named body the dictionary does not know ("the Third World Water Forum"): no code."""
    if token.ent_type_ not in ("ORG", "FAC", "WORK_OF_ART", "EVENT") or token.pos_ != "PROPN":
        return None
    for ent in token.doc.ents:
        if ent.start <= token.i < ent.end:
            trimmed = _trim(ent)
            if trimmed is not None:
                return Actor(name=_clean_name(trimmed.text), code=None, type="organisation")
    return None


def _span_at(spans: list[Span], token: Token) -> Span | None:
    best = None
    for s in spans:
        if s.start <= token.i < s.end and (best is None or len(s) > len(best)):
            best = s
    return best


def _modifier_actor(token: Token, spans: list[Span], exclude: Span | None) -> Actor | None:
    """A state or organisation (or a coded person's state) among the head's left modifiers."""
    hits: list[Span] = []
    for child in token.children:
        if child.dep_ not in _MODIFIER_DEPS and not (child.dep_ == "det" and child.tag_ == "PRP$"):
            continue
        if child.dep_ == "poss" and token.lemma_.lower() in _OTHER_SIDE:
            continue  # "Kuleba's Polish counterpart" is not Ukraine's
        for t in child.subtree:
            s = _span_at(spans, t)
            if s is not None and s is not exclude and s not in hits and s._.actor is not None:
                hits.append(s)
    hits.sort(key=lambda s: s.start)
    for s in hits:
        actor: Actor = s._.actor
        if actor.code is None:
            continue
        if actor.type == "person":
            return _by_code(s.doc, actor.code) or actor
        return actor
    for child in token.children:  # "the alliance's secretary-general", "the bloc's ministers"
        if child.dep_ in ("poss", "compound") and child.pos_ == "NOUN":
            referred = _referred_actor(child, spans)
            if referred is not None:
                return referred
    return None


def _place_actor(token: Token, spans: list[Span]) -> Actor | None:
    """A state the head is of or in: "rebels in Ivory Coast", "a group based in Trinidad"."""
    children = list(token.children)
    for child in token.children:
        if child.dep_ == "acl" and child.lemma_ in _BASED:
            children.extend(child.children)
    for child in children:
        if child.dep_ == "prep" and child.lower_ in _PREP_PLACES:
            for t in child.subtree:
                s = _span_at(spans, t)
                if s is not None and s._.actor is not None and s._.actor.type == "state":
                    return s._.actor  # type: ignore[no-any-return]
    return None


def _referred_actor(token: Token, spans: list[Span]) -> Actor | None:
    """"the alliance" -> the organisation of the text that the noun refers to (NATO)."""
    rec = _recognizer(token.doc)
    if rec is None:
        return None
    ids = rec.refer.get(token.lemma_.lower()) or rec.refer.get(token.lower_)
    if not ids:
        return None
    if any(c.dep_ in _MODIFIER_DEPS for c in token.children):
        return None
    wanted = set(ids)
    before = [s for s in spans if s.start < token.i and s.id_ in wanted]
    if before:
        return before[-1]._.actor  # type: ignore[no-any-return]
    after = [s for s in spans if s.start > token.i and s.id_ in wanted]
    return after[0]._.actor if after else None


# The component of each vocabulary, so that `actor_of(token)` finds the dictionary of the
# pipeline that made the token's Doc; weak, so a discarded pipeline is freed.
_RECOGNIZERS: weakref.WeakValueDictionary[int, ActorRecognizer] = weakref.WeakValueDictionary()


def _recognizer(doc: Doc) -> ActorRecognizer | None:
    return _RECOGNIZERS.get(id(doc.vocab))


def _by_code(doc: Doc, code: str) -> Actor | None:
    rec = _recognizer(doc)
    return rec.by_code.get(code) if rec is not None else None


@Language.factory(
    "newswatch_actors",
    default_config={"validate": True},
    requires=["doc.ents", "token.dep", "token.pos", "doc.sents"],
    assigns=["doc.ents", "doc.spans", "doc._.actors", "doc._.dateline", "span._.actor"],
)
def make_actor_recognizer(nlp: Language, name: str, validate: bool) -> ActorRecognizer:
    """Create the actor component; the dictionary comes in with `add_patterns`."""
    rec = ActorRecognizer(nlp, name, validate)
    _RECOGNIZERS[id(nlp.vocab)] = rec
    return rec
