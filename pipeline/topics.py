"""Tracked topics: loading `topics.toml` and tagging events with the topics they match.

A topic is a set of lemma patterns ("join {actor}", "accession", "open door") plus rules that
keep it precise:

- `{actor}` in a pattern stands for a name of one of the topic's organisations ("NATO") or for a
  generic reference ("the alliance", "the bloc") that the article's context resolves to it;
- a pattern without `{actor}` ("accession") must still resolve to one of the topic's
  organisations: the nearest organisation named in the sentence, else the event's target or
  source, else the last one named earlier in the article (so an EU enlargement story does not
  match `nato-enlargement`);
- a mention whose clause says it was *not* discussed is rejected ("did not discuss new members");
- `exclusions` veto the matches they overlap; `event_types`, `require_actors` and
  `exclude_actors` filter events.

`tag_topics` is the step between extraction and store: it reuses the sentences extraction
analysed and returns the extractions with their `TopicMatch`es, so storing needs no model. Any
other text runs only the tagger, attribute ruler and lemmatizer of the loaded pipeline. spaCy is
imported lazily so `newswatch topics` (which only loads the file) starts fast; the file's shape
is checked with pydantic models.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError,
    ValidationInfo, field_validator,
)

from newswatch.pipeline.errors import TopicError
from newswatch.pipeline.records import Article, Event, EventType, Extraction, TopicMatch

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span

#: The pipes matching needs; every other pipe of the loaded pipeline is disabled.
LEMMA_PIPES = ("tok2vec", "tagger", "attribute_ruler", "lemmatizer")
#: Part-of-speech tags that may stand between two pattern words ("join *the* alliance",
#: "NATO*'s* enlargement", "open*-*door", "the *Western military* alliance").
FILLER_TAGS = ("DT", "PDT", "PRP$", "POS", "JJ", "JJR", "JJS", "RB", "CD", "HYPH", "VBN")
MAX_FILLERS = 3
#: How many tokens `...` in a pattern may skip.
MAX_GAP = 4
#: Most patterns one line may expand to (alternatives of multi-word names multiply).
MAX_VARIANTS = 400
SLOT = "{actor}"
GAP = "..."
TOPIC_FIELDS = {
    "slug", "name", "description", "actors", "require_actors", "exclude_actors", "event_types",
    "patterns", "exclusions", "channels", "tests",
}
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CLAUSE_BOUNDARY = {",", ";", ":", "(", ")", "—", "–", "but", "while", "whereas", "although"}


@dataclass(frozen=True, slots=True)
class Organisation:
    """An organisation patterns can refer to: its explicit names and generic references."""

    code: str
    names: tuple[str, ...]
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Negation:
    """Words that mark a mention as absent: a cue ("not") with a mention verb ("discuss")."""

    cues: tuple[str, ...] = ("not", "n't", "never", "no", "without", "nor", "neither", "off")
    verbs: tuple[str, ...] = ("discuss", "mention", "raise", "address", "debate", "agenda")
    window: int = 6


@dataclass(frozen=True, slots=True)
class MatchContext:
    """What a topics file shares between its topics: organisations and negation words."""

    organisations: tuple[Organisation, ...] = ()
    negation: Negation = field(default_factory=Negation)


@dataclass(frozen=True, slots=True)
class TopicTests:
    """Texts a topic must and must not match (run by tests/test_topics.py)."""

    match: tuple[str, ...] = ()
    no_match: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Topic:
    """A tracked topic as written in the topics file; see docs/data-files.md."""

    slug: str
    name: str
    description: str
    patterns: tuple[str, ...]
    actors: tuple[str, ...] = ()
    require_actors: tuple[str, ...] = ()
    exclude_actors: tuple[str, ...] = ()
    event_types: tuple[EventType, ...] = ()
    exclusions: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    tests: TopicTests = field(default_factory=TopicTests)
    context: MatchContext = field(default_factory=MatchContext)
    source: Path | None = None
    line: int = 0


# ---------------------------------------------------------------------------------------------
# Loading


def load_topics(path: Path) -> list[Topic]:
    """Read a topics file into `Topic` records, checking every entry before reporting.

    The file's shape is checked by the pydantic models below. Raises `TopicError` listing
    each problem as `file:line: topic 'slug': field: problem`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopicError(
            f"{path}: cannot read the topics file ({exc.strerror}). "
            "Check NEWSWATCH_TOPICS."
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopicError(f"{path}: not valid TOML: {exc}") from exc
    problems: list[str] = []
    header_lines = [
        n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith("[[topic]]")
    ]
    try:
        shared = _FileModel.model_validate(data)
    except ValidationError as exc:
        problems += [f"{path}:1: {problem}" for problem in _problems(exc)]
        shared = _FileModel()
    context = shared.context()
    entries = data.get("topic")
    if not isinstance(entries, list) or not entries:
        problems.append(f"{path}:1: no [[topic]] entries")
        entries = []
    topics: list[Topic] = []
    seen: dict[str, int] = {}
    known = {"organisations": frozenset(o.code for o in context.organisations)}
    for index, entry in enumerate(entries):
        line = header_lines[index] if index < len(header_lines) else 1
        slug = entry.get("slug") if isinstance(entry, dict) else None
        where = f"{path}:{line}: " + (f"topic '{slug}'" if isinstance(slug, str) else f"topic {index + 1}")
        try:
            model = _TopicModel.model_validate(entry, context=known)
        except ValidationError as exc:
            problems += [f"{where}: {problem}" for problem in _problems(exc)]
            continue
        if model.slug in seen:
            problems.append(f"{where}: slug already used at line {seen[model.slug]}")
            continue
        seen[model.slug] = line
        topics.append(model.topic(context, path, line))
    if problems:
        raise TopicError("invalid topics file:\n" + "\n".join(problems))
    return topics


def _problems(exc: ValidationError) -> list[str]:
    """One line per pydantic error: the field path and what is wrong with it."""
    lines: list[tuple[int, str]] = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            fields = ", ".join(sorted(TOPIC_FIELDS)) if len(error["loc"]) == 1 else ""
            lines.append((0, f"unknown field '{loc}'" + (f" (fields: {fields})" if fields else "")))
        elif error["type"] == "model_type":
            lines.append((1, f"{loc or 'entry'}: not a table"))
        elif error["type"] == "value_error":
            lines.append((1, str(error["ctx"]["error"])))  # our own message names the field
        else:
            lines.append((1, f"'{loc}': {error['msg'].lower()}"))
    return [line for _, line in sorted(lines, key=lambda item: item[0])]


# ---------------------------------------------------------------------------------------------
# The shape of a topics file (pydantic models; `load_topics` turns them into the records above)


def _as_list(value: Any) -> Any:
    """Read a TOML list (or a single string) as the tuple the record keeps."""
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list) else value


_Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_Words = Annotated[tuple[_Word, ...], BeforeValidator(_as_list)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _OrganisationModel(_Model):
    names: Annotated[_Words, Field(min_length=1)]
    references: _Words = ()


class _NegationModel(_Model):
    cues: _Words = Negation().cues
    verbs: _Words = Negation().verbs
    window: Annotated[int, Field(gt=0)] = Negation().window


class _TestsModel(_Model):
    match: _Words = ()
    no_match: _Words = ()


class _FileModel(BaseModel):
    """The file's shared tables; each `[[topic]]` is checked on its own (`_TopicModel`), so
    its problems carry its line and slug."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    organisations: dict[str, _OrganisationModel] = {}
    negation: _NegationModel = _NegationModel()

    def context(self) -> MatchContext:
        negation = self.negation
        return MatchContext(
            organisations=tuple(
                Organisation(code=code, names=org.names,
                             references=tuple(r.lower() for r in org.references))
                for code, org in sorted(self.organisations.items())
            ),
            negation=Negation(cues=tuple(c.lower() for c in negation.cues),
                              verbs=tuple(v.lower() for v in negation.verbs),
                              window=negation.window),
        )


class _TopicModel(_Model):
    """One `[[topic]]`; fields are checked in this order, so later checks see earlier fields."""

    slug: str
    name: _Word
    description: _Word
    actors: _Words = ()
    require_actors: _Words = ()
    exclude_actors: _Words = ()
    event_types: _Words = ()
    patterns: _Words = ()
    exclusions: _Words = ()
    channels: _Words = ()
    tests: _TestsModel = _TestsModel()

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("'slug' must be lowercase words joined by hyphens, like 'nato-enlargement'")
        return value

    @field_validator("actors")
    @classmethod
    def _actors(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        known = (info.context or {}).get("organisations", frozenset())
        unknown = [code for code in value if code not in known]
        if unknown:
            raise ValueError("; ".join(
                f"actor '{code}' has no [organisations.{code}] entry giving its names"
                for code in unknown
            ))
        return value

    @field_validator("event_types")
    @classmethod
    def _event_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = {t.value for t in EventType}
        bad = [name for name in value if name.upper() not in names]
        if bad:
            raise ValueError("; ".join(
                f"event type '{name}' is not one of {', '.join(t.value for t in EventType)}"
                for name in bad
            ))
        return tuple(name.upper() for name in value)

    @field_validator("patterns", "exclusions")
    @classmethod
    def _patterns(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.field_name == "patterns" and not value:
            raise ValueError("'patterns' must list at least one pattern")
        has_actors = bool(info.data.get("actors")) or "actors" not in info.data
        what = "pattern" if info.field_name == "patterns" else "exclusion"
        found = [
            f"{what} {pattern!r}: {problem}" for pattern in value
            if (problem := _check_pattern(pattern, has_actors=has_actors))
        ]
        if found:
            raise ValueError("; ".join(found))
        return value

    def topic(self, context: MatchContext, path: Path, line: int) -> Topic:
        return Topic(
            slug=self.slug, name=self.name, description=" ".join(self.description.split()),
            patterns=self.patterns, actors=self.actors, require_actors=self.require_actors,
            exclude_actors=self.exclude_actors,
            event_types=tuple(EventType(name) for name in self.event_types),
            exclusions=self.exclusions, channels=self.channels,
            tests=TopicTests(match=self.tests.match, no_match=self.tests.no_match),
            context=context, source=path, line=line,
        )


def _check_pattern(pattern: str, *, has_actors: bool) -> str | None:
    """Return what is wrong with a pattern line, or None."""
    parts = pattern.split()
    if not parts:
        return "empty pattern"
    if parts[0] == GAP or parts[-1] == GAP:
        return f"'{GAP}' must stand between two words"
    for a, b in itertools.pairwise(parts):
        if a == GAP and b == GAP:
            return f"two '{GAP}' in a row"
    for part in parts:
        if part == GAP:
            continue
        if part == SLOT:
            if not has_actors:
                return f"'{SLOT}' needs the topic's 'actors'"
            continue
        if "{" in part or "}" in part:
            return f"unknown slot {part!r} (only {SLOT})"
        if any(not alt for alt in part.split("|")):
            return f"empty alternative in {part!r}"
    return None


# ---------------------------------------------------------------------------------------------
# Compiling patterns into a spaCy Matcher


@dataclass(frozen=True)
class _PatternGroup:
    """The topic patterns that need the same words, in a Matcher of their own."""

    needed: tuple[frozenset[str], ...]  # the norms it cannot match without (one of each set)
    matcher: Any


@dataclass(frozen=True)
class _Compiled:
    """A topic file compiled for matching.

    The Matcher's cost grows with its patterns (about a millisecond per sentence for all of
    them), so patterns are grouped by the words they need and a sentence runs only the
    groups whose words it has: usually none, or one or two of a hundred.
    """

    groups: tuple[_PatternGroup, ...]
    index: Mapping[str, tuple[int, ...]]  # norm -> the groups that need it
    always: tuple[int, ...]  # groups that need no word
    exclusions: Mapping[str, Any]  # topic slug -> Matcher of its exclusions (key "slug!")
    references: Mapping[str, tuple[str, ...]]  # reference lemma -> organisation codes
    names: Mapping[str, tuple[str, ...]]  # organisation code -> explicit names

    def groups_for(self, doc: Doc | Span) -> list[_PatternGroup]:
        """The pattern groups whose needed words all occur in `doc` (by lemma norm)."""
        norms = {token.lemma_.lower() or token.lower_ for token in doc}  # as `_with_lemma_norms`
        found = set(self.always)
        for norm in norms & self.index.keys():
            found.update(self.index[norm])
        groups = [self.groups[i] for i in sorted(found)]
        return [group for group in groups if all(needed & norms for needed in group.needed)]


def _forms(nlp: Language, word: str) -> list[list[str]]:
    """Return the token norms (lower-case text and lemma) of one pattern word or name."""
    doc = _lemmatize(nlp, [word])[0]
    return [sorted({t.text.lower(), t.lemma_.lower()}) for t in doc]


def _lemmatize(nlp: Language, texts: Sequence[str]) -> list[Doc]:
    disabled = [name for name in nlp.pipe_names if name not in LEMMA_PIPES]
    return [_with_lemma_norms(doc) for doc in nlp.pipe(texts, disable=disabled)]


def _with_lemma_norms(doc: Doc) -> Doc:
    """Set each token's NORM to its lemma, which the compiled patterns match on."""
    for token in doc:
        token.norm_ = token.lemma_.lower() or token.text.lower()
    return doc


def _element_variants(
    nlp: Language, part: str, slot: list[list[dict[str, Any]]]
) -> list[list[dict[str, Any]]]:
    """Return the token-spec sequences one pattern element can match."""
    if part == SLOT:
        return slot
    single: set[str] = set()
    multi: list[list[dict[str, Any]]] = []
    for alt in part.split("|"):
        forms = _forms(nlp, alt)
        if len(forms) == 1:
            single.update(forms[0])
        else:
            multi.append([{"NORM": {"IN": f}} for f in forms])
    variants = [[{"NORM": {"IN": sorted(single)}}]] if single else []
    return variants + multi


def _compile_pattern(
    nlp: Language, pattern: str, slot: list[list[dict[str, Any]]]
) -> list[list[dict[str, Any]]]:
    filler = {"TAG": {"IN": list(FILLER_TAGS)}, "OP": f"{{0,{MAX_FILLERS}}}"}
    gap = {"IS_PUNCT": False, "OP": f"{{0,{MAX_GAP}}}"}
    elements: list[list[list[dict[str, Any]]] | None] = []
    for part in pattern.split():
        elements.append(None if part == GAP else _element_variants(nlp, part, slot))
    choices = [e for e in elements if e is not None]
    out: list[list[dict[str, Any]]] = []
    for combo in itertools.islice(itertools.product(*choices), MAX_VARIANTS):
        specs: list[dict[str, Any]] = []
        it = iter(combo)
        previous_was_word = False
        for element in elements:
            if element is None:
                specs.append(gap)
                previous_was_word = False
                continue
            if previous_was_word:
                specs.append(filler)
            specs.extend(next(it))
            previous_was_word = True
        out.append(specs)
    return out


@lru_cache(maxsize=8)
def _compile(nlp: Language, topics: tuple[Topic, ...]) -> _Compiled:
    from spacy.matcher import Matcher

    references: dict[str, set[str]] = {}
    names: dict[str, tuple[str, ...]] = {}
    for topic in topics:
        for org in topic.context.organisations:
            names[org.code] = org.names
            for ref in org.references:
                references.setdefault(ref, set()).add(org.code)
    grouped: dict[tuple[frozenset[str], ...], Any] = {}
    exclusions: dict[str, Any] = {}
    for topic in topics:
        slot: list[list[dict[str, Any]]] = []
        for org in topic.context.organisations:
            if org.code not in topic.actors:
                continue
            for alias in (*org.names, *org.references):
                slot.append([{"NORM": {"IN": f}} for f in _forms(nlp, alias)])
        for key, lines in ((topic.slug, topic.patterns), (f"{topic.slug}!", topic.exclusions)):
            for line in lines:
                try:
                    patterns = _compile_pattern(nlp, line, slot)
                    if key.endswith("!"):
                        exclusions.setdefault(topic.slug, Matcher(nlp.vocab, validate=True)).add(key, patterns)
                        continue
                    for pattern in patterns:
                        needed = _needed(pattern)
                        grouped.setdefault(needed, Matcher(nlp.vocab, validate=True)).add(key, [pattern])
                except ValueError as exc:  # spaCy's pattern validation
                    raise TopicError(
                        f"{topic.source}:{topic.line}: topic '{topic.slug}': pattern {line!r} "
                        f"is invalid: {exc}"
                    ) from exc
    groups = tuple(_PatternGroup(needed, matcher) for needed, matcher in grouped.items())
    index: dict[str, set[int]] = {}
    for i, group in enumerate(groups):
        for word in set().union(*group.needed):
            index.setdefault(word, set()).add(i)
    return _Compiled(
        groups=groups,
        index={word: tuple(sorted(ids)) for word, ids in index.items()},
        always=tuple(i for i, group in enumerate(groups) if not group.needed),
        exclusions=exclusions,
        references={k: tuple(sorted(v)) for k, v in references.items()},
        names=names,
    )


def _needed(pattern: list[dict[str, Any]]) -> tuple[frozenset[str], ...]:
    """Return the norm sets of a pattern's required words (tokens without an operator)."""
    needed = {
        frozenset(spec["NORM"]["IN"]) if isinstance(spec["NORM"], dict) else frozenset([spec["NORM"]])
        for spec in pattern if "OP" not in spec and "NORM" in spec
    }
    return tuple(sorted(needed, key=sorted))


# ---------------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True)
class _Hit:
    topic: str
    start: int  # token offsets in the doc
    end: int
    char_start: int
    char_end: int
    text: str
    excluded: bool


def match_topics(
    nlp: Language,
    topics: Sequence[Topic],
    items: Sequence[tuple[Event, Extraction]],
    analysed: Mapping[str, Doc | Span] | None = None,
) -> list[tuple[TopicMatch, ...]]:
    """Tag each event with the topics it matches, in the context of its article.

    `items` pairs each event with the extraction of its article (title, text, actors and the
    article's other events). Returns, per item, one `TopicMatch` per matching topic with the
    words that matched, in topic-file order. `analysed` maps sentence texts to Spans (or Docs) the full
    pipeline already produced (tags and lemmas), so they need not be tagged again.
    """
    if not topics or not items:
        return [() for _ in items]
    topics = tuple(topics)
    compiled = _compile(nlp, topics)
    texts: list[str] = []
    sentence_of: dict[str, str] = {}  # a content read apart from its sentence: its words come from it
    for event, _ in items:
        texts.append(event.sentence)
        if _find(event.sentence, event.content) is None and event.content.strip():
            texts.append(event.content)
            sentence_of.setdefault(event.content, event.sentence)
    unique = list(dict.fromkeys(texts))
    # Sentences extraction already tagged and lemmatised are not run through the model again,
    # and are copied out of their article only when some pattern may match them.
    docs: dict[str, Doc] = {}
    hits: dict[str, list[_Hit]] = {}
    groups: dict[str, list[_PatternGroup]] = {}
    for text in unique:
        seen = analysed.get(text) if analysed else None
        if seen is None:
            continue
        groups[text] = compiled.groups_for(seen)
        if not groups[text]:
            hits[text] = []
            continue
        docs[text] = _with_lemma_norms(seen.as_doc() if hasattr(seen, "as_doc") else seen)
    for content, sentence in sentence_of.items():
        if hits.get(sentence) == [] and sentence not in docs:
            hits.setdefault(content, [])  # no pattern's words in the sentence: none in its content
    if missing := [text for text in unique if text not in docs and text not in hits]:
        docs.update(zip(missing, _lemmatize(nlp, missing)))
    for text, doc in docs.items():
        hits[text] = _hits(compiled, doc, groups[text] if text in groups else compiled.groups_for(doc))
    results: list[tuple[TopicMatch, ...]] = []
    for event, extraction in items:
        results.append(
            tuple(
                m for topic in topics
                if (m := _match_event(topic, compiled, event, extraction, docs, hits)) is not None
            )
        )
    return results


def tag_topics(
    nlp: Language,
    topics: Sequence[Topic],
    analysed: Iterable[tuple[Extraction, Sequence[Span]]],
) -> list[Extraction]:
    """Tag every event of a batch of extractions with the topics it matches.

    `analysed` pairs each Extraction with the analysed Spans of its event sentences, as
    `extract.analyse_articles` yields them (an empty sequence is fine: those sentences are
    tagged here). Returns the extractions with `topics` filled, one tuple of `TopicMatch`
    per event; the Spans are not kept.
    """
    pairs = list(analysed)
    spans = {span.text: span for _, sentences in pairs for span in sentences}
    items = [(event, extraction) for extraction, _ in pairs for event in extraction.events]
    matches = iter(match_topics(nlp, topics, items, spans))
    return [
        dataclasses.replace(extraction, topics=tuple(next(matches) for _ in extraction.events))
        for extraction, _ in pairs
    ]


def preview_topics(
    nlp: Language, topics: Sequence[Topic], text: str, *, title: str = ""
) -> list[tuple[Topic, TopicMatch | None]]:
    """Match a free text against every topic (`newswatch topics test`).

    The text is its own article and sentence, under `title`: "the alliance" or a bare
    "accession" resolve only to an organisation named there. Topic event-type and actor
    filters do not apply because there is no event; resolution and negation do.
    """
    article = Article(url="<text>", title=title, text=text)
    event = Event(type=EventType.STATEMENT, source=None, target=None, content=text,
                  sentence=text, start=0, end=len(text))
    bare = [
        Topic(slug=t.slug, name=t.name, description=t.description, patterns=t.patterns,
              actors=t.actors, exclusions=t.exclusions, context=t.context, source=t.source,
              line=t.line)
        for t in topics
    ]
    found = match_topics(nlp, bare, [(event, Extraction(article=article, events=(event,)))])[0]
    by_slug = {m.topic: m for m in found}
    return [(t, by_slug.get(t.slug)) for t in topics]


def _find(haystack: str, needle: str) -> tuple[int, int] | None:
    """Return the character range of `needle` in `haystack` (case-insensitive), if present."""
    needle = needle.strip()
    if not needle:
        return None
    at = haystack.lower().find(needle.lower())
    return None if at < 0 else (at, at + len(needle))


def _hits(compiled: _Compiled, doc: Doc, groups: Sequence[_PatternGroup]) -> list[_Hit]:
    """Run the pattern groups that may match `doc`, then the exclusions of the topics found."""
    from spacy.util import filter_spans

    by_key: dict[str, list[Span]] = {}
    for group in groups:
        for match_id, start, end in group.matcher(doc):
            by_key.setdefault(doc.vocab.strings[match_id], []).append(doc[start:end])
    for slug in [key for key in by_key if key in compiled.exclusions]:
        # an exclusion only vetoes its own topic's matches (see `_match_event`)
        for match_id, start, end in compiled.exclusions[slug](doc):
            by_key.setdefault(doc.vocab.strings[match_id], []).append(doc[start:end])
    hits = []
    for key, spans in by_key.items():
        for span in filter_spans(spans):
            hits.append(
                _Hit(
                    topic=key.rstrip("!"), start=span.start, end=span.end,
                    char_start=span.start_char, char_end=span.end_char, text=span.text,
                    excluded=key.endswith("!"),
                )
            )
    return sorted(hits, key=lambda h: (h.start, h.end))


def _involved(event: Event) -> set[str]:
    return {a.code for a in (event.source, event.target) if a is not None and a.code}


def _match_event(
    topic: Topic,
    compiled: _Compiled,
    event: Event,
    extraction: Extraction,
    docs: Mapping[str, Doc],
    hits: Mapping[str, list[_Hit]],
) -> TopicMatch | None:
    if topic.event_types and event.type not in topic.event_types:
        return None
    involved = _involved(event)
    if topic.exclude_actors and involved & set(topic.exclude_actors):
        return None
    if topic.require_actors and not involved & set(topic.require_actors):
        named = _named_orgs(event.sentence, compiled, extraction)
        if not {code for code, _ in named} & set(topic.require_actors):
            return None

    # Where the event's own content lies in its sentence, and the contents of the other events
    # read from the same sentence: a match inside another event's content belongs to it.
    own = _find(event.sentence, event.content)
    siblings = [
        r for other in extraction.events
        if other is not event and other.sentence == event.sentence and other.start == event.start
        and other.content != event.content
        and (r := _find(event.sentence, other.content)) is not None
    ]
    candidates: list[tuple[str, _Hit]] = []
    for hit in hits[event.sentence]:
        if hit.topic != topic.slug or hit.excluded:
            continue
        inside_own = own is not None and own[0] <= hit.char_start and hit.char_end <= own[1]
        if not inside_own and any(s <= hit.char_start and hit.char_end <= e for s, e in siblings):
            continue
        candidates.append((event.sentence, hit))
    if own is None and event.content in hits:
        candidates += [(event.content, h) for h in hits[event.content]
                       if h.topic == topic.slug and not h.excluded]

    words: list[str] = []
    for text, hit in candidates:
        doc = docs[text]
        if any(x.excluded and x.topic == topic.slug and x.start < hit.end and hit.start < x.end
               for x in hits[text]):
            continue
        if _negated(doc, hit, topic.context.negation):
            continue
        if topic.actors:
            resolved = _resolve(doc, hit, compiled, event, extraction, text)
            if not resolved & set(topic.actors):
                continue
        if hit.text not in words:
            words.append(hit.text)
    return TopicMatch(topic=topic.slug, words=tuple(words)) if words else None


def _negated(doc: Doc, hit: _Hit, negation: Negation) -> bool:
    """Whether the clause around a match says the matched thing was *not* discussed."""
    cues, verbs = set(negation.cues), set(negation.verbs)

    def window(indices: Iterable[int]) -> set[str]:
        seen: set[str] = set()
        for i in indices:
            token = doc[i]
            if token.norm_ in _CLAUSE_BOUNDARY or token.text in _CLAUSE_BOUNDARY or (
                token.is_sent_start and i != hit.start and i < hit.start
            ):
                break
            seen.add(token.norm_)
            if len(seen) >= negation.window:
                break
        return seen

    left = window(range(hit.start - 1, max(-1, hit.start - 1 - negation.window), -1))
    right = window(range(hit.end, min(len(doc), hit.end + negation.window)))
    return any(bool(side & cues) and bool(side & verbs) for side in (left, right))


def _name_regex(name: str) -> re.Pattern[str]:
    flags = 0 if name.isupper() else re.IGNORECASE
    return re.compile(r"(?<![\w])" + re.escape(name) + r"(?![\w])", flags)


@lru_cache(maxsize=512)
def _cached_regex(name: str) -> re.Pattern[str]:
    return _name_regex(name)


def _org_names(compiled: _Compiled, extraction: Extraction) -> dict[str, tuple[str, ...]]:
    """Explicit organisation names: the topics file's, plus organisations the article names."""
    names = {code: list(ns) for code, ns in compiled.names.items()}
    for actor in extraction.actors:
        if actor.code and actor.type == "organisation" and actor.name:
            names.setdefault(actor.code, []).append(actor.name)
    return {code: tuple(ns) for code, ns in names.items()}


def _named_orgs(
    text: str, compiled: _Compiled, extraction: Extraction
) -> list[tuple[str, int]]:
    """Return (code, character offset) of every organisation named in `text`."""
    found = []
    for code, names in _org_names(compiled, extraction).items():
        for name in names:
            found += [(code, m.start()) for m in _cached_regex(name).finditer(text)]
    return sorted(found, key=lambda f: f[1])


def _resolve(
    doc: Doc,
    hit: _Hit,
    compiled: _Compiled,
    event: Event,
    extraction: Extraction,
    text: str,
) -> set[str]:
    """Return the organisations a match is about (empty when the context cannot tell)."""
    explicit = _named_orgs(hit.text, compiled, extraction)
    if explicit:
        return {code for code, _ in explicit}
    in_text = _named_orgs(text, compiled, extraction)

    def before() -> list[tuple[str, int]]:  # only scanned when the sentence cannot tell
        return _named_orgs(_text_before(event, extraction), compiled, extraction)

    article_orgs = {a.code for a in extraction.actors if a.code and a.code in compiled.names}

    reference = next(
        (t.norm_ for t in doc[hit.start:hit.end] if t.norm_ in compiled.references), None
    )
    if reference is not None:
        # "the alliance", "the bloc": the last organisation named before it in the sentence
        # that goes by it, else the event's own organisation, else the article's last one.
        allowed = set(compiled.references[reference])
        earlier = [c for c, at in in_text if at < hit.char_start and c in allowed]
        earlier = earlier or [
            a.code for a in (event.source, event.target) if a is not None and a.code in allowed
        ]
        earlier = earlier or [c for c, _ in before() if c in allowed]
        if earlier:
            return {earlier[-1]}
        later = [c for c, at in in_text if at >= hit.char_end and c in allowed]
        if later:
            return {later[0]}
        candidates = article_orgs & allowed
        return candidates if len(candidates) == 1 else set()

    # A bare keyword ("accession"): the nearest organisation named in the same sentence...
    if in_text:
        centre = (hit.char_start + hit.char_end) / 2
        return {min(in_text, key=lambda f: abs(f[1] - centre))[0]}
    # ...else the event's own organisation, else the last one the article named before it.
    for actor in (event.target, event.source):
        if actor is not None and actor.code and actor.code in compiled.names:
            return {actor.code}
    earlier_in_article = before()
    if earlier_in_article:
        return {earlier_in_article[-1][0]}
    return article_orgs if len(article_orgs) == 1 else set()


def _text_before(event: Event, extraction: Extraction) -> str:
    article = extraction.article
    start = max(0, min(event.start, len(article.text)))
    return f"{article.title}\n{article.text[:start]}"
