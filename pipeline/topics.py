"""Tracked topics: loading `topics.toml` and tagging events with the topics they match.

A topic is a set of lemma patterns ("join {actor}", "accession", "open door") plus rules that
keep it precise:

- `{actor}` in a pattern stands for a mention of one of the topic's organisations ("NATO") or
  for a generic reference ("the alliance", "the bloc") that the article's context resolves to it;
- a pattern without `{actor}` ("accession") must still resolve to one of the topic's
  organisations: the nearest organisation named in the sentence, else the event's target or
  source, else the last one named earlier in the article (so an EU enlargement story does not
  match `nato-enlargement`);

Organisations are not recognised here a second time: the mentions are the ones the actor
component (`newswatch_actors`, pipeline/actors.py) put on the article's Doc
(`doc.spans["actors"]`), and the generic references are the dictionary's `refer` nouns.
- a mention whose clause says it was *not* discussed is rejected ("did not discuss new members");
- `exclusions` veto the matches they overlap; `event_types`, `require_actors` and
  `exclude_actors` filter events.

Patterns miss paraphrases, so a topic may also list `examples` and `counter_examples`: with
an embedder (pipeline/embed.py), an event no pattern matched matches by meaning when its
sentence is near the examples and clearly nearer them than the counter-examples (or continues
an on-topic previous sentence), and the topic's actor constraint holds as above.

`tag_topics` is the step between extraction and store: it reuses the sentences extraction
analysed and returns the extractions with their `TopicMatch`es, so storing needs no model. Any
other text (a free text, a title the resolution needs) runs through the loaded pipeline without
its event component, so matching needs the newswatch pipeline (`load_nlp`). spaCy is
imported lazily so `newswatch topics` (which only loads the file) starts fast; the file's shape
is checked with pydantic models.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
import tomllib
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError,
    ValidationInfo, field_validator,
)

from newswatch.pipeline.errors import TopicError
from newswatch.pipeline.records import Article, Event, EventType, Extraction, TopicMatch

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span

    from newswatch.pipeline.actors import ActorRecognizer
    from newswatch.pipeline.embed import Embedder, Vectors

#: The pipes that read a pattern word's forms; every other pipe is disabled for them.
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
#: The actor component, whose mentions and dictionary topics use.
ACTOR_PIPE = "newswatch_actors"
#: The token attribute (`token._.topic_actor`) that marks the tokens of an organisation mention
#: with its code in the copies topics match on.
MENTION_ATTR = "topic_actor"
GAP = "..."
TOPIC_FIELDS = {
    "slug", "name", "description", "actors", "require_actors", "exclude_actors", "event_types",
    "patterns", "exclusions", "channels", "tests", "examples", "counter_examples",
}
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CLAUSE_BOUNDARY = {",", ";", ":", "(", ")", "—", "–", "but", "while", "whereas", "although"}


@dataclass(frozen=True, slots=True)
class Negation:
    """Words that mark a mention as absent: a cue ("not") with a mention verb ("discuss")."""

    cues: tuple[str, ...] = ("not", "n't", "never", "no", "without", "nor", "neither", "off")
    verbs: tuple[str, ...] = ("discuss", "mention", "raise", "address", "debate", "agenda")
    window: int = 6


@dataclass(frozen=True, slots=True)
class Meaning:
    """When an event matches a topic by meaning (the `[meaning]` table; docs/data-files.md).

    A sentence matches when its cosine to the nearest of the topic's `examples` is at least
    `threshold` and beats the nearest `counter_examples` by `margin`. A sentence that
    continues an on-topic previous sentence (one that passes on its own) needs only
    `context_threshold` and `context_margin`. Chosen on dev, dev2 and the sentences of
    tests/test_topics.py with all-MiniLM-L6-v2 (the figures are in docs/data-files.md).
    """

    threshold: float = 0.60
    margin: float = 0.10
    context_threshold: float = 0.40
    context_margin: float = 0.0


@dataclass(frozen=True, slots=True)
class MatchContext:
    """What a topics file shares between its topics: the negation words and the meaning
    thresholds."""

    negation: Negation = field(default_factory=Negation)
    meaning: Meaning = field(default_factory=Meaning)


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
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    context: MatchContext = field(default_factory=MatchContext)
    source: Path | None = None
    line: int = 0


# ---------------------------------------------------------------------------------------------
# Loading


def load_topics(path: Path, organisations: Collection[str] | None = None) -> list[Topic]:
    """Read a topics file into `Topic` records, checking every entry before reporting.

    The file's shape is checked by the pydantic models below. A topic's `actors` must be
    organisation codes of the actor dictionary: checked here when `organisations` gives them,
    and always when the topics are compiled against a pipeline. Raises `TopicError` listing
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
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition; binary or UTF-16 is not it
        raise TopicError(
            f"{path}: not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8 TOML"
        ) from None
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
    if "organisations" in data:
        problems.append(
            f"{path}:1: the [organisations] table is no longer read: organisations, their names "
            "and generic references ('refer') come from the actor dictionary (actors.jsonl)"
        )
    entries = data.get("topic")
    if not isinstance(entries, list) or not entries:
        problems.append(f"{path}:1: no [[topic]] entries")
        entries = []
    topics: list[Topic] = []
    seen: dict[str, int] = {}
    known = {"organisations": None if organisations is None else frozenset(organisations)}
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


class _NegationModel(_Model):
    cues: _Words = Negation().cues
    verbs: _Words = Negation().verbs
    window: Annotated[int, Field(gt=0)] = Negation().window


class _MeaningModel(_Model):
    threshold: Annotated[float, Field(ge=-1, le=1)] = Meaning().threshold
    margin: Annotated[float, Field(ge=-2, le=2)] = Meaning().margin
    context_threshold: Annotated[float, Field(ge=-1, le=1)] = Meaning().context_threshold
    context_margin: Annotated[float, Field(ge=-2, le=2)] = Meaning().context_margin


class _TestsModel(_Model):
    match: _Words = ()
    no_match: _Words = ()


class _FileModel(BaseModel):
    """The file's shared tables; each `[[topic]]` is checked on its own (`_TopicModel`), so
    its problems carry its line and slug."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    negation: _NegationModel = _NegationModel()
    meaning: _MeaningModel = _MeaningModel()

    def context(self) -> MatchContext:
        negation, meaning = self.negation, self.meaning
        return MatchContext(
            negation=Negation(cues=tuple(c.lower() for c in negation.cues),
                              verbs=tuple(v.lower() for v in negation.verbs),
                              window=negation.window),
            meaning=Meaning(threshold=meaning.threshold, margin=meaning.margin,
                            context_threshold=meaning.context_threshold,
                            context_margin=meaning.context_margin),
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
    examples: _Words = ()
    counter_examples: _Words = ()

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("'slug' must be lowercase words joined by hyphens, like 'nato-enlargement'")
        return value

    @field_validator("actors")
    @classmethod
    def _actors(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        known = (info.context or {}).get("organisations")
        unknown = [code for code in value if known is not None and code not in known]
        if unknown:
            raise ValueError("; ".join(_unknown_actor(code) for code in unknown))
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

    @field_validator("counter_examples")
    @classmethod
    def _counter_examples(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if value and not info.data.get("examples"):
            raise ValueError("'counter_examples' need 'examples': meaning is judged against both")
        return value

    def topic(self, context: MatchContext, path: Path, line: int) -> Topic:
        return Topic(
            slug=self.slug, name=self.name, description=" ".join(self.description.split()),
            patterns=self.patterns, actors=self.actors, require_actors=self.require_actors,
            exclude_actors=self.exclude_actors,
            event_types=tuple(EventType(name) for name in self.event_types),
            exclusions=self.exclusions, channels=self.channels,
            tests=TopicTests(match=self.tests.match, no_match=self.tests.no_match),
            examples=tuple(" ".join(e.split()) for e in self.examples),
            counter_examples=tuple(" ".join(e.split()) for e in self.counter_examples),
            context=context, source=path, line=line,
        )


def _unknown_actor(code: str) -> str:
    return f"actor '{code}' is not an organisation code of the actor dictionary (actors.jsonl)"


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
    references: Mapping[str, tuple[str, ...]]  # reference lemma -> the organisation ids it may mean
    organisations: frozenset[str]  # the organisation codes of the actor dictionary

    def groups_for(self, doc: Doc | Span) -> list[_PatternGroup]:
        """The pattern groups whose needed words all occur in `doc` (by lemma norm)."""
        norms = {token.lemma_.lower() or token.lower_ for token in doc}  # as `_with_lemma_norms`
        found = set(self.always)
        for norm in norms & self.index.keys():
            found.update(self.index[norm])
        groups = [self.groups[i] for i in sorted(found)]
        return [group for group in groups if all(needed & norms for needed in group.needed)]


def _forms(nlp: Language, words: Iterable[str]) -> dict[str, list[list[str]]]:
    """Return the token norms (lower-case text and lemma) of each pattern word or name, all
    through the model in one call: a call per word made compiling the topics 0.5-0.8 s."""
    unique = list(dict.fromkeys(words))
    return {word: [sorted({t.text.lower(), t.lemma_.lower()}) for t in doc]
            for word, doc in zip(unique, _lemmatize(nlp, unique))}


def _pattern_words(line: str) -> Iterator[str]:
    """The words of a pattern line whose forms `_element_variants` looks up."""
    for part in line.split():
        if part not in (SLOT, GAP):
            yield from part.split("|")


def _lemmatize(nlp: Language, texts: Sequence[str]) -> list[Doc]:
    disabled = [name for name in nlp.pipe_names if name not in LEMMA_PIPES]
    return [_with_lemma_norms(doc) for doc in nlp.pipe(texts, disable=disabled)]


def _with_lemma_norms(doc: Doc) -> Doc:
    """Set each token's NORM to its lemma, which the compiled patterns match on."""
    for token in doc:
        token.norm_ = token.lemma_.lower() or token.text.lower()
    return doc


def _element_variants(
    forms_of: Mapping[str, list[list[str]]], part: str, slot: list[list[dict[str, Any]]]
) -> list[list[dict[str, Any]]]:
    """Return the token-spec sequences one pattern element can match (`forms_of`: `_forms`)."""
    if part == SLOT:
        return slot
    single: set[str] = set()
    multi: list[list[dict[str, Any]]] = []
    for alt in part.split("|"):
        forms = forms_of[alt]
        if len(forms) == 1:
            single.update(forms[0])
        else:
            multi.append([{"NORM": {"IN": f}} for f in forms])
    variants = [[{"NORM": {"IN": sorted(single)}}]] if single else []
    return variants + multi


def _compile_pattern(
    forms_of: Mapping[str, list[list[str]]], pattern: str, slot: list[list[dict[str, Any]]]
) -> list[list[dict[str, Any]]]:
    filler = {"TAG": {"IN": list(FILLER_TAGS)}, "OP": f"{{0,{MAX_FILLERS}}}"}
    gap = {"IS_PUNCT": False, "OP": f"{{0,{MAX_GAP}}}"}
    elements: list[list[list[dict[str, Any]]] | None] = []
    for part in pattern.split():
        elements.append(None if part == GAP else _element_variants(forms_of, part, slot))
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


# One entry: each flow run builds its own pipeline, and a larger cache would keep up to that
# many earlier runs' models alive in a long `serve` process.
@functools.lru_cache(maxsize=1)
def _compile(nlp: Language, topics: tuple[Topic, ...]) -> _Compiled:
    from spacy.matcher import Matcher

    _register()
    dictionary = _dictionary(nlp)
    organisations = frozenset(
        code for code, actor in dictionary.by_code.items() if actor.type == "organisation"
    )
    problems = [
        f"{topic.source}:{topic.line}: topic '{topic.slug}': {_unknown_actor(code)}"
        for topic in topics for code in topic.actors if code not in organisations
    ]
    if problems:
        raise TopicError("invalid topics file:\n" + "\n".join(problems))
    # The generic nouns that refer to a topic's organisation ("alliance" for NATO), each with
    # every organisation it may mean ("bloc": NATO, the EU, ASEAN, ...).
    wanted = {code for topic in topics for code in topic.actors}
    references = {
        noun: tuple(sorted(set(ids) & organisations))
        for noun, ids in dictionary.refer.items() if set(ids) & wanted
    }
    grouped: dict[tuple[frozenset[str], ...], Any] = {}
    exclusions: dict[str, Any] = {}
    forms_of = _forms(nlp, [*references, *(word for topic in topics
                                           for line in (*topic.patterns, *topic.exclusions)
                                           for word in _pattern_words(line))])
    for topic in topics:
        # `{actor}`: the tokens of a mention of one of the topic's organisations, as the actor
        # component found it (marked by `_prepare`), or one of their generic references
        slot: list[list[dict[str, Any]]] = []
        if topic.actors:
            slot.append([{"_": {MENTION_ATTR: {"IN": sorted(topic.actors)}}, "OP": "+"}])
        for noun, codes in sorted(references.items()):
            if set(codes) & set(topic.actors):
                slot.append([{"NORM": {"IN": f}} for f in forms_of[noun]])
        for key, lines in ((topic.slug, topic.patterns), (f"{topic.slug}!", topic.exclusions)):
            for line in lines:
                try:
                    patterns = _compile_pattern(forms_of, line, slot)
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
        references=references,
        organisations=organisations,
    )


def _dictionary(nlp: Language) -> ActorRecognizer:
    """The pipeline's actor component, which holds the actor dictionary."""
    from newswatch.pipeline.actors import ActorRecognizer

    pipe = nlp.get_pipe(ACTOR_PIPE) if ACTOR_PIPE in nlp.pipe_names else None
    if not isinstance(pipe, ActorRecognizer):
        raise TopicError(
            f"matching topics needs the newswatch pipeline with its '{ACTOR_PIPE}' component "
            "(pipeline.analysis.load_nlp), not a bare spaCy model"
        )
    return pipe


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


@dataclass(frozen=True, slots=True)
class _Mention:
    """An organisation mention the actor component found, in offsets of the text it lies in."""

    code: str
    start: int  # tokens
    end: int
    char_start: int
    char_end: int


def _mentions(seen: Doc | Span, before: bool = False) -> tuple[_Mention, ...]:
    """The organisation mentions (coded, of type organisation) inside `seen`, a Span or Doc
    the actor component processed; with `before`, those of its Doc that come before it."""
    from spacy.tokens import Span

    from newswatch.pipeline.actors import ActorIndex

    doc = seen.doc if isinstance(seen, Span) else seen
    index = doc._.actor_index
    if not isinstance(index, ActorIndex):
        return ()
    start, end, char = (seen.start, seen.end, seen.start_char) if isinstance(seen, Span) else (0, len(doc), 0)
    if before:
        start, end, char = 0, start, 0
    found = []
    for k in index.within(start, end):
        actor = index.actor(k)
        if actor is None or actor.type != "organisation" or not actor.code:
            continue
        span = index.spans[k]
        found.append(_Mention(actor.code, span.start - start, span.end - start,
                              span.start_char - char, span.end_char - char))
    return tuple(found)


def _is_span(seen: Doc | Span) -> bool:
    from spacy.tokens import Span

    return isinstance(seen, Span)


def _register() -> None:
    from spacy.tokens import Token

    if not Token.has_extension(MENTION_ATTR):
        Token.set_extension(MENTION_ATTR, default=None)


def _prepare(seen: Doc | Span) -> Doc:
    """A Doc to match topics on: `seen`'s tokens (a copy of a Span), each NORM its lemma, the
    tokens of every organisation mention marked with its code (`token._.topic_actor`)."""
    _register()
    doc = seen.as_doc() if hasattr(seen, "as_doc") else seen
    _with_lemma_norms(doc)
    for mention in _mentions(seen):
        for i in range(mention.start, min(mention.end, len(doc))):
            doc[i]._.set(MENTION_ATTR, mention.code)
    return doc


def _analyse(nlp: Language, texts: Sequence[str]) -> list[Doc]:
    """Run texts extraction did not analyse through the pipeline (without event extraction),
    so their tags, lemmas and actor mentions are the pipeline's own."""
    _dictionary(nlp)
    disabled = [name for name in nlp.pipe_names if name == "newswatch_events"]
    return list(nlp.pipe(texts, disable=disabled))


def match_topics(
    nlp: Language,
    topics: Sequence[Topic],
    items: Sequence[tuple[Event, Extraction]],
    analysed: Mapping[str, Doc | Span] | None = None,
    embedder: Embedder | None = None,
) -> list[tuple[TopicMatch, ...]]:
    """Tag each event with the topics it matches, in the context of its article.

    `items` pairs each event with the extraction of its article (title, text, actors and the
    article's other events). Returns, per item, one `TopicMatch` per matching topic with the
    words that matched, in topic-file order. `analysed` maps sentence texts to the Spans (or
    Docs) the full pipeline already produced (tags, lemmas and actor mentions), so they need not
    be analysed again; the mentions earlier in a Span's Doc are the article's earlier ones.
    Any other text (and, when the resolution needs it, the article's title) runs through `nlp`.

    With an `embedder`, an event no pattern of a topic matched may still match it by meaning
    (`_match_meaning`): its sentence is near the topic's `examples` and the topic's actor
    constraint holds. Without one (the `none` setting) only patterns match.
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
    # Sentences extraction already analysed are not run through the model again, and are
    # copied out of their article only when some pattern may match them.
    sources: dict[str, Doc | Span] = {}
    docs: dict[str, Doc] = {}
    hits: dict[str, list[_Hit]] = {}
    groups: dict[str, list[_PatternGroup]] = {}
    for text in unique:
        seen = analysed.get(text) if analysed else None
        if seen is None:
            continue
        sources[text] = seen
        groups[text] = compiled.groups_for(seen)
        if not groups[text]:
            hits[text] = []
            continue
        docs[text] = _prepare(seen)
    for content, sentence in sentence_of.items():
        if hits.get(sentence) == [] and sentence not in docs:
            hits.setdefault(content, [])  # no pattern's words in the sentence: none in its content
    if missing := [text for text in unique if text not in docs and text not in hits]:
        for text, doc in zip(missing, _analyse(nlp, missing)):
            sources[text] = doc
            docs[text] = _prepare(doc)
    for text, doc in docs.items():
        hits[text] = _hits(compiled, doc, groups[text] if text in groups else compiled.groups_for(doc))

    mentions: dict[str, tuple[_Mention, ...]] = {}
    later: dict[str, Doc] = {}  # texts analysed only when the resolution needs them

    def mentions_in(text: str) -> tuple[_Mention, ...]:
        if text not in mentions:
            mentions[text] = _mentions(sources[text]) if text in sources else ()
        return mentions[text]

    def earlier(event: Event, extraction: Extraction) -> list[str]:
        """The organisations the article named before the event: its title, then its text."""
        article = extraction.article
        seen = sources.get(event.sentence)
        in_doc = seen is not None and _is_span(seen)  # a Span of the article's Doc
        head = "" if in_doc else article.text[: max(0, min(event.start, len(article.text)))]
        # extraction analysed the title already (its Span comes with the sentences)
        known_title = (analysed or {}).get(article.title)
        if needed := [t for t in dict.fromkeys((article.title, head))
                      if t.strip() and t not in later and not (t == article.title and known_title is not None)]:
            later.update(zip(needed, _analyse(nlp, needed)))
        title_source = known_title if known_title is not None else later.get(article.title)
        title = _mentions(title_source) if article.title.strip() and title_source is not None else ()
        if seen is not None and in_doc:
            body = _mentions(seen, before=True)
        else:
            body = _mentions(later[head]) if head.strip() else ()
        return [m.code for m in (*title, *body)]

    results: list[tuple[TopicMatch, ...]] = []
    for event, extraction in items:
        results.append(
            tuple(
                m for topic in topics
                if (m := _match_event(topic, compiled, event, extraction, docs, hits, mentions_in,
                                      functools.partial(earlier, event, extraction))) is not None
            )
        )
    if embedder is None or not any(topic.examples for topic in topics):
        return results
    # Meaning: only for the (event, topic) pairs no pattern matched whose filters and actor
    # constraint hold, so an article with nothing to compare never loads the model.
    wanted: list[tuple[int, Topic]] = []
    for i, (event, extraction) in enumerate(items):
        found = {m.topic for m in results[i]}
        about: set[str] | None = None
        for topic in topics:
            if not topic.examples or topic.slug in found:
                continue
            if not _passes_filters(topic, event, mentions_in):
                continue
            if topic.actors:
                if about is None:
                    about = _about(compiled, event, extraction, sources.get(event.sentence),
                                   mentions_in(event.sentence),
                                   functools.partial(earlier, event, extraction))
                if not about & set(topic.actors):
                    continue
            wanted.append((i, topic))
    if not wanted:
        return results
    # sentences already on a topic by its patterns: a sentence continuing one needs only the
    # topic's lower context thresholds (see _match_meaning)
    on_topic = {(id(extraction), event.sentence.strip(), m.topic)
                for (event, extraction), found in zip(items, results) for m in found}
    meant = _match_meaning(embedder, tuple(topics), [(items[i][0], items[i][1], t) for i, t in wanted],
                           on_topic)
    extra: dict[int, list[TopicMatch]] = {}
    for (i, _), match in zip(wanted, meant):
        if match is not None:
            extra.setdefault(i, []).append(match)
    order = {topic.slug: n for n, topic in enumerate(topics)}
    return [
        tuple(sorted((*found, *extra[i]), key=lambda m: order[m.topic])) if i in extra else found
        for i, found in enumerate(results)
    ]


# ---------------------------------------------------------------------------------------------
# Meaning


def _example_vectors(
    embedder: Embedder, topics: tuple[Topic, ...]
) -> dict[str, tuple[Vectors, Vectors]]:
    """Embed every topic's examples and counter-examples once per loaded topics and embedder."""
    return _embed_examples(cast(Hashable, embedder), topics)


# Two entries: a run's embedder with its topics, and a `topics test` beside it.
@functools.lru_cache(maxsize=2)
def _embed_examples(
    key: Hashable, topics: tuple[Topic, ...]
) -> dict[str, tuple[Vectors, Vectors]]:
    embedder = cast("Embedder", key)
    texts = list(dict.fromkeys(
        text for topic in topics for text in (*topic.examples, *topic.counter_examples)
    ))
    if not texts:
        return {}
    vectors = embedder.encode(texts)
    row = {text: i for i, text in enumerate(texts)}
    return {
        topic.slug: (vectors[[row[t] for t in topic.examples]],
                     vectors[[row[t] for t in topic.counter_examples]])
        for topic in topics if topic.examples
    }


@dataclass(frozen=True, slots=True)
class _Nearest:
    """How near a text is to a topic: its nearest example, and its best margin over the
    nearest counter-example."""

    example: str
    score: float
    margin: float

    def passes(self, threshold: float, margin: float) -> bool:
        return self.score >= threshold and self.margin >= margin


def _nearest(topic: Topic, vectors: tuple[Vectors, Vectors], text: Vectors) -> _Nearest:
    from newswatch.pipeline.embed import cosine

    examples, counters = vectors
    pos = cosine(text[None, :], examples)[0]
    best = int(pos.argmax())
    neg = float(cosine(text[None, :], counters)[0].max()) if len(counters) else -1.0
    return _Nearest(topic.examples[best], float(pos[best]), float(pos[best]) - neg)


_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=\S)")


def _previous_sentence(text: str, start: int) -> str:
    """The sentence before offset `start` of an article's text ("" at its start)."""
    head = text[: max(0, min(start, len(text)))].rstrip()
    ends = list(_SENTENCE_END.finditer(head))
    return head[ends[-1].end():] if ends else head


def _match_meaning(
    embedder: Embedder, topics: tuple[Topic, ...], wanted: Sequence[tuple[Event, Extraction, Topic]],
    on_topic: Collection[tuple[int, str, str]] = (),
) -> list[TopicMatch | None]:
    """Match events to topics by meaning, one answer per (event, extraction, topic).

    An event matches when its sentence passes the topic's `threshold` and `margin`, or when
    it passes the lower `context_threshold` and `context_margin` and continues the topic: the
    article's previous sentence passes on its own ("refused to set a date" after a demand for
    an invitation), by meaning or because it holds an event the topic's patterns matched
    (`on_topic`: (id of the extraction, stripped sentence, topic slug)). When one sentence holds
    several events, the event's own content is what must pass the lower thresholds, and its
    sentence is the context: another event's words do not tag it. Returns the matches with the
    nearest example and its cosine.
    """
    vectors = _example_vectors(embedder, topics)
    plans: list[tuple[str, str]] = []  # (own text, context text) per wanted pair
    for event, extraction, _ in wanted:
        shared = any(
            other.sentence == event.sentence and other.start == event.start
            and other.content != event.content for other in extraction.events
        )
        if shared and event.content.strip():
            plans.append((event.content, event.sentence))
        else:
            plans.append((event.sentence, _previous_sentence(extraction.article.text, event.start)))
    # Own texts first; a context text only for a pair its own text leaves undecided.
    own_texts = list(dict.fromkeys(own for own, _ in plans if own.strip()))
    own_vectors = embedder.encode(own_texts)
    own_row = {text: i for i, text in enumerate(own_texts)}
    nearest: list[_Nearest | None] = []
    undecided: list[str] = []
    for (own, context), (_, _, topic) in zip(plans, wanted):
        meaning = topic.context.meaning
        near = _nearest(topic, vectors[topic.slug], own_vectors[own_row[own]]) if own in own_row else None
        nearest.append(near)
        if (near is not None and context.strip() and not near.passes(meaning.threshold, meaning.margin)
                and near.passes(meaning.context_threshold, meaning.context_margin)):
            undecided.append(context)
    context_texts = list(dict.fromkeys(undecided))
    context_vectors = embedder.encode(context_texts) if context_texts else None
    context_row = {text: i for i, text in enumerate(context_texts)}
    out: list[TopicMatch | None] = []
    for (own, context), (_, extraction, topic), near in zip(plans, wanted, nearest):
        meaning = topic.context.meaning
        ok = near is not None and near.passes(meaning.threshold, meaning.margin)
        if not ok and near is not None and (id(extraction), context.strip(), topic.slug) in on_topic:
            ok = near.passes(meaning.context_threshold, meaning.context_margin)
        if not ok and near is not None and context_vectors is not None and context in context_row:
            ok = near.passes(meaning.context_threshold, meaning.context_margin) and _nearest(
                topic, vectors[topic.slug], context_vectors[context_row[context]]
            ).passes(meaning.threshold, meaning.margin)
        out.append(TopicMatch(topic=topic.slug, example=near.example, score=round(near.score, 3))
                   if ok and near is not None else None)
    return out


def _about(
    compiled: _Compiled,
    event: Event,
    extraction: Extraction,
    sentence: Doc | Span | None,
    in_sentence: Sequence[_Mention],
    earlier: Callable[[], list[str]],
) -> set[str]:
    """The organisations an event's sentence is about, for a match by meaning: those it names
    or refers to ("the alliance", resolved as for patterns), else the event's own, else the
    last one the article named before it (so an EU accession story stays EU). A body coded by
    its state (a party, a ministry: Fidesz -> HUN) is about that state, not an organisation."""
    codes = {m.code for m in in_sentence if m.code in compiled.organisations}
    references = [
        t for t in (sentence or ()) if (t.lemma_.lower() or t.lower_) in compiled.references
    ]
    if references and not codes:
        allowed = {code for t in references
                   for code in compiled.references[t.lemma_.lower() or t.lower_]}
        own = [a.code for a in (event.source, event.target) if a is not None and a.code in allowed]
        before = own or [code for code in earlier() if code in allowed]
        if before:
            codes.add(before[-1])
    if codes:
        return codes
    for actor in (event.target, event.source):
        if actor is not None and actor.code and actor.code in compiled.organisations:
            return {actor.code}
    if named := earlier():
        return {named[-1]}
    article = {a.code for a in extraction.actors if a.code and a.code in compiled.organisations}
    return article if len(article) == 1 else set()


def prepare_topics(nlp: Language, topics: Sequence[Topic], embedder: Embedder | None = None) -> None:
    """Do now what the first `tag_topics` call would: compile the patterns and embed the
    examples (a second or so), e.g. while a worker process waits for its first batch."""
    _compile(nlp, tuple(topics))
    if embedder is not None:
        _example_vectors(embedder, tuple(topics))


def tag_topics(
    nlp: Language,
    topics: Sequence[Topic],
    analysed: Iterable[tuple[Extraction, Sequence[Span]]],
    embedder: Embedder | None = None,
) -> list[Extraction]:
    """Tag every event of a batch of extractions with the topics it matches.

    `analysed` pairs each Extraction with the analysed Spans of its event sentences, as
    `extract.analyse_articles` yields them (an empty sequence is fine: those sentences are
    analysed here). Their Docs carry the actor component's mentions, which is what `{actor}`
    and the resolution of "the alliance" or a bare "accession" read. Returns the extractions
    with `topics` filled, one tuple of `TopicMatch` per event; the Spans are not kept.
    `embedder` adds matches by meaning (see `match_topics`).
    """
    pairs = list(analysed)
    spans = {span.text: span for _, sentences in pairs for span in sentences}
    items = [(event, extraction) for extraction, _ in pairs for event in extraction.events]
    matches = iter(match_topics(nlp, topics, items, spans, embedder))
    return [
        dataclasses.replace(extraction, topics=tuple(next(matches) for _ in extraction.events))
        for extraction, _ in pairs
    ]


def preview_topics(
    nlp: Language, topics: Sequence[Topic], text: str, *, title: str = "",
    embedder: Embedder | None = None,
) -> list[tuple[Topic, TopicMatch | None]]:
    """Match a free text against every topic (`newswatch topics test`).

    The text is its own article and sentence, under `title`: "the alliance" or a bare
    "accession" resolve only to an organisation named there. `nlp` is the newswatch pipeline
    (`load_nlp`): the text and title run through it, so their organisation mentions are the
    actor component's. Topic event-type and actor filters do not apply because there is no
    event; resolution and negation do. With an `embedder`, a match by meaning comes with
    the nearest example and its cosine (`nearest_examples` gives them for every topic).
    """
    article = Article(url="<text>", title=title, text=text)
    event = Event(type=EventType.STATEMENT, source=None, target=None, content=text,
                  sentence=text, start=0, end=len(text))
    bare = [
        Topic(slug=t.slug, name=t.name, description=t.description, patterns=t.patterns,
              actors=t.actors, exclusions=t.exclusions, examples=t.examples,
              counter_examples=t.counter_examples, context=t.context, source=t.source,
              line=t.line)
        for t in topics
    ]
    found = match_topics(nlp, bare, [(event, Extraction(article=article, events=(event,)))],
                         embedder=embedder)[0]
    by_slug = {m.topic: m for m in found}
    return [(t, by_slug.get(t.slug)) for t in topics]


def nearest_examples(
    embedder: Embedder, topics: Sequence[Topic], text: str
) -> dict[str, tuple[str, float, float]]:
    """For each topic with examples: the example nearest to `text`, its cosine, and the
    margin over the nearest counter-example (what `newswatch topics test` shows)."""
    vectors = _example_vectors(embedder, tuple(topics))
    if not vectors:
        return {}
    (encoded,) = embedder.encode([text])
    return {
        topic.slug: (near.example, round(near.score, 3), round(near.margin, 3))
        for topic in topics if topic.slug in vectors
        for near in [_nearest(topic, vectors[topic.slug], encoded)]
    }


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


def _passes_filters(
    topic: Topic, event: Event, mentions: Callable[[str], tuple[_Mention, ...]]
) -> bool:
    """Whether an event passes a topic's `event_types`, `exclude_actors` and `require_actors`."""
    if topic.event_types and event.type not in topic.event_types:
        return False
    involved = _involved(event)
    if topic.exclude_actors and involved & set(topic.exclude_actors):
        return False
    if topic.require_actors and not involved & set(topic.require_actors):
        return bool({m.code for m in mentions(event.sentence)} & set(topic.require_actors))
    return True


def _match_event(
    topic: Topic,
    compiled: _Compiled,
    event: Event,
    extraction: Extraction,
    docs: Mapping[str, Doc],
    hits: Mapping[str, list[_Hit]],
    mentions: Callable[[str], tuple[_Mention, ...]],
    earlier: Callable[[], list[str]],
) -> TopicMatch | None:
    if not _passes_filters(topic, event, mentions):
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
            resolved = _resolve(doc, hit, compiled, event, extraction, mentions(text), earlier)
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


def _resolve(
    doc: Doc,
    hit: _Hit,
    compiled: _Compiled,
    event: Event,
    extraction: Extraction,
    in_text: Sequence[_Mention],
    earlier: Callable[[], list[str]],
) -> set[str]:
    """Return the organisations a match is about (empty when the context cannot tell).

    `in_text` are the organisation mentions of the text the match is in, `earlier` gives the
    codes of those the article named before the event (read only when the sentence cannot tell).
    """
    explicit = {m.code for m in in_text if m.start < hit.end and hit.start < m.end}
    if explicit:
        return explicit
    article_orgs = {
        a.code for a in extraction.actors if a.code and a.code in compiled.organisations
    }

    reference = next(
        (t.norm_ for t in doc[hit.start:hit.end] if t.norm_ in compiled.references), None
    )
    if reference is not None:
        # "the alliance", "the bloc": the last organisation named before it in the sentence
        # that goes by it, else the event's own organisation, else the article's last one.
        allowed = set(compiled.references[reference])
        before = [m.code for m in in_text if m.char_start < hit.char_start and m.code in allowed]
        before = before or [
            a.code for a in (event.source, event.target) if a is not None and a.code in allowed
        ]
        before = before or [code for code in earlier() if code in allowed]
        if before:
            return {before[-1]}
        after = [m.code for m in in_text if m.char_start >= hit.char_end and m.code in allowed]
        if after:
            return {after[0]}
        candidates = article_orgs & allowed
        return candidates if len(candidates) == 1 else set()

    # A bare keyword ("accession"): the nearest organisation named in the same sentence...
    if in_text:
        centre = (hit.char_start + hit.char_end) / 2
        return {min(in_text, key=lambda m: abs(m.char_start - centre)).code}
    # ...else the event's own organisation, else the last one the article named before it.
    for actor in (event.target, event.source):
        if actor is not None and actor.code and actor.code in compiled.organisations:
            return {actor.code}
    earlier_in_article = earlier()
    if earlier_in_article:
        return {earlier_in_article[-1]}
    return article_orgs if len(article_orgs) == 1 else set()
