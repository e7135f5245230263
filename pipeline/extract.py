"""Event extraction: the spaCy pipeline, the `newswatch_events` component and `extract_events`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from newswatch.pipeline import _spacy  # noqa: F401  # before spaCy: keeps PyTorch out
import spacy
from spacy.language import Language
from spacy.matcher import DependencyMatcher
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

import newswatch.pipeline.actors  # noqa: F401  (registers the newswatch_actors factory)
from newswatch.pipeline._chunks import split_text
from newswatch.pipeline._lists import read_listed_demands
from newswatch.pipeline.clean import MAX_TITLE_CHARS
from newswatch.pipeline._roles import Candidate, RoleWords, make_candidate, resolve_candidates
from newswatch.pipeline.actors import ActorWords, actor_of
from newswatch.pipeline.errors import DataFileError, PatternError
from newswatch.pipeline.jsonl import read_jsonl
from newswatch.pipeline.records import Actor, Article, Event, EventType, Extraction

__all__ = [
    "EventMatcher", "analyse_articles", "build_nlp", "extract_events", "load_trigger_patterns",
    "load_word_lists",
]

if not Doc.has_extension("events"):
    Doc.set_extension("events", default=None)

_PIPES_NEEDED = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner")
_REQUIRED_FIELDS = ("id", "label", "pattern", "examples")


def load_word_lists(path: Path) -> dict[str, frozenset[str]]:
    """Read `words.tsv`: one `list<TAB>word` a line (blank lines and `#` comments skipped).

    Returns each list's words, lower-cased, by list name. Raises DataFileError naming the file
    and the line of the first bad line, or when the file cannot be read.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the word lists ({exc.strerror})") from exc
    lists: dict[str, set[str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != 2 or not cells[0].strip() or not cells[1].strip():
            raise DataFileError(f"{path}:{number}: a line must be 'list<TAB>word'")
        lists.setdefault(cells[0].strip(), set()).add(cells[1].strip().lower())
    return {name: frozenset(words) for name, words in lists.items()}


def _check_pattern(pattern: Any) -> str | None:
    """Return what is wrong with a DependencyMatcher pattern, or None."""
    if not isinstance(pattern, list) or not pattern:
        return "must be a non-empty list of nodes"
    names: set[str] = set()
    for n, node in enumerate(pattern):
        if not isinstance(node, dict) or "RIGHT_ID" not in node or "RIGHT_ATTRS" not in node:
            return f"node {n} needs RIGHT_ID and RIGHT_ATTRS"
        if n == 0 and ("LEFT_ID" in node or "REL_OP" in node):
            return "the first node is the anchor and has no LEFT_ID/REL_OP"
        if n > 0 and (node.get("LEFT_ID") not in names or "REL_OP" not in node):
            return f"node {n} ({node['RIGHT_ID']}) needs REL_OP and a LEFT_ID named before it"
        if node["RIGHT_ID"] in names:
            return f"RIGHT_ID {node['RIGHT_ID']!r} is used twice"
        names.add(node["RIGHT_ID"])
    return None


def load_trigger_patterns(path: Path) -> list[dict[str, Any]]:
    """Read `triggers.jsonl`: one DependencyMatcher pattern per line with id, label and examples.

    Raises PatternError naming the file, the line and the field of the first bad line.
    """
    patterns: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    labels = {t.value for t in EventType}
    checker = DependencyMatcher(Vocab(), validate=True)
    for where, entry in read_jsonl(path, what="trigger patterns", setting="NEWSWATCH_TRIGGERS"):
        for name in _REQUIRED_FIELDS:
            if name not in entry:
                raise PatternError(f"{where}: field {name!r} is missing")
        if not isinstance(entry["id"], str) or not entry["id"]:
            raise PatternError(f"{where}: field 'id' must be a non-empty string")
        if entry["id"] in seen:
            raise PatternError(f"{where}: field 'id': {entry['id']!r} already used on line {seen[entry['id']]}")
        seen[entry["id"]] = where.rpartition(":")[2]
        if entry["label"] not in labels:
            raise PatternError(f"{where}: field 'label': {entry['label']!r} is not one of {sorted(labels)}")
        examples = entry["examples"]
        if not isinstance(examples, list) or not examples or not all(isinstance(e, str) for e in examples):
            raise PatternError(f"{where}: field 'examples' must be a list of one or more sentences")
        if entry.get("frame") not in (None, "clause"):
            raise PatternError(f"{where}: field 'frame': {entry['frame']!r} is not 'clause'")
        problem = _check_pattern(entry["pattern"])
        if problem is None:
            try:
                checker.add(entry["id"], [entry["pattern"]])
            except (ValueError, KeyError, TypeError) as exc:
                problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if problem is not None:
            raise PatternError(f"{where}: field 'pattern': {problem}")
        patterns.append(entry)
    return patterns


class EventMatcher:
    """The `newswatch_events` component: trigger patterns in, `doc._.events` out."""

    def __init__(self, nlp: Language, name: str, validate: bool, words: RoleWords) -> None:
        self.name = name
        self.words = words
        self.nlp = nlp
        self.matcher = DependencyMatcher(nlp.vocab, validate=validate)
        self.labels: dict[int, tuple[str, EventType, list[str], str | None]] = {}

    def add_patterns(self, patterns: Iterable[dict[str, Any]]) -> None:
        """Add trigger patterns as `load_trigger_patterns` returns them."""
        for entry in patterns:
            self.matcher.add(entry["id"], [entry["pattern"]])
            key = self.matcher.vocab.strings[entry["id"]]
            names = [node["RIGHT_ID"] for node in entry["pattern"]]
            self.labels[key] = (entry["id"], EventType(entry["label"]), names, entry.get("frame"))

    def __call__(self, doc: Doc) -> Doc:
        candidates: list[Candidate] = []
        for key, token_ids in self.matcher(doc):
            pattern_id, label, names, frame = self.labels[key]
            candidates.append(make_candidate(pattern_id, label, names, token_ids, doc, frame))
        candidates.sort(key=lambda c: (c.trigger.i, c.pattern_id))
        events = resolve_candidates(doc, candidates, actor_of, self.words)
        if any(t.text == ":" for t in doc):
            events = read_listed_demands(doc, events, actor_of, self.words, self._tag)
        doc._.events = events
        return doc

    def _tag(self, text: str) -> Doc:
        """Tag and lemmatise a short text (a list item) without parsing it."""
        doc = self.nlp.make_doc(text)
        for name, pipe in self.nlp.pipeline:
            if name in ("tok2vec", "tagger", "attribute_ruler", "lemmatizer"):
                doc = pipe(doc)
        return doc


@Language.component("newswatch_paragraphs", assigns=["token.is_sent_start"])
def mark_paragraphs(doc: Doc) -> Doc:
    """Start a sentence after every line break: a paragraph never continues a sentence."""
    for token in doc[:-1]:
        if "\n" in token.text or "\n" in token.whitespace_:
            doc[token.i + 1].is_sent_start = True
    return doc


@Language.factory(
    "newswatch_events",
    default_config={"validate": True, "words": {}},
    requires=["token.dep", "token.lemma", "token.tag", "doc.sents", "doc._.actor_index"],
    assigns=["doc._.events"],
)
def make_event_matcher(nlp: Language, name: str, validate: bool, words: dict[str, list[str]]) -> EventMatcher:
    """Create the event component from its word lists; patterns are added with `add_patterns`."""
    return EventMatcher(nlp, name, validate, RoleWords.from_lists(words))


def build_nlp(
    model: str,
    actor_patterns: list[dict[str, Any]],
    trigger_patterns: list[dict[str, Any]],
    word_lists: Mapping[str, Iterable[str]],
) -> Language:
    """Load the spaCy model `model` and add the actor and event components.

    Patterns come in as loaded by `load_actor_patterns` and `load_trigger_patterns`, the word
    lists as loaded by `load_word_lists` (each component's config receives its lists); this
    function never reads files. Pipes the components do not need are disabled.
    """
    nlp = spacy.load(model)
    for pipe in nlp.pipe_names:
        if pipe not in _PIPES_NEEDED:
            nlp.disable_pipe(pipe)
    nlp.add_pipe("newswatch_paragraphs", before="parser")
    actors: Any = nlp.add_pipe("newswatch_actors", config={"words": _config_words(ActorWords, word_lists)})
    actors.add_patterns(actor_patterns)
    events: Any = nlp.add_pipe("newswatch_events", config={"words": _config_words(RoleWords, word_lists)})
    events.add_patterns(trigger_patterns)
    return nlp


def _config_words(kind: type[ActorWords] | type[RoleWords], lists: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """The lists a component's `words` config takes, sorted (a missing list is left for it to name)."""
    names = {f.name for f in dataclasses.fields(kind)}
    return {name: sorted(words) for name, words in lists.items() if name in names}


def _doc_actors(doc: Doc) -> tuple[Actor, ...]:
    found = getattr(doc._, "actors", None) if Doc.has_extension("actors") else None
    return tuple(found or ())


def extract_events(nlp: Language, articles: Iterable[Article], batch_size: int = 32) -> Iterator[Extraction]:
    """Run the pipeline over `articles` in batches; yield one Extraction per article.

    Actors count from the headline and the body; events come from the body only (a headline
    compresses and repeats it), except for an article that is nothing but its headline.
    Event offsets are those of the sentence in `Article.text` (in the title for such an article).
    """
    for extraction, _ in analyse_articles(nlp, articles, batch_size):
        yield extraction


def analyse_articles(
    nlp: Language, articles: Iterable[Article], batch_size: int = 32
) -> Iterator[tuple[Extraction, tuple[Span, ...]]]:
    """Yield what `extract_events` yields, each Extraction with its event sentences' Spans and its title's.

    The Spans carry the pipeline's tags and lemmas, so topic tagging (`tag_topics`) reuses
    them instead of running the model again; each keeps its article's Doc alive, so pass them
    on and drop them.
    """

    def texts(items: Iterable[Article]) -> Iterator[tuple[str, tuple[Article, str, int, bool]]]:
        for article in items:
            yield (article.title or "")[: min(nlp.max_length, MAX_TITLE_CHARS)], (article, "title", 0, True)
            yield from _text_pieces(nlp, article)

    def parsed() -> Iterator[tuple[Doc, tuple[Article, str, int, bool]]]:
        for long, run in _runs_by_length(articles):
            # A long article's pieces go through the model a few at a time: the model's
            # working memory grows with the characters of a batch (a 300,000-character article
            # in one batch of 16 pieces peaked at 1 GB, in batches of 4 at 0.45 GB).
            size = max(1, BATCH_CHARS // PIECE_CHARS) if long else batch_size
            yield from nlp.pipe(texts(run), batch_size=size, as_tuples=True)

    title_doc: Doc | None = None
    events: list[Event] = []
    sentences: list[Span] = []
    actors: dict[Actor, None] = {}
    for doc, (article, part, offset, last) in parsed():
        if part == "title":
            title_doc, events, sentences = doc, [], []
            actors = dict.fromkeys(_doc_actors(doc))
            continue
        events.extend(_shift(event, offset) for event in doc._.events or ())
        sentences.extend(_event_sentences(doc))
        actors.update(dict.fromkeys(_doc_actors(doc)))
        if not last:
            continue
        if not article.text.strip() and title_doc is not None:
            events = list(title_doc._.events or ())
            sentences = list(_event_sentences(title_doc))
        elif title_doc is not None and len(title_doc):
            sentences.append(title_doc[:])  # topic resolution reads the title's mentions too
        yield Extraction(article=article, actors=tuple(actors), events=tuple(events)), tuple(sentences)
        title_doc = None


def _event_sentences(doc: Doc) -> Iterator[Span]:
    for event in doc._.events or ():
        span = doc.char_span(event.start, event.end)
        if span is not None and span.text == event.sentence:
            yield span


# A long text is processed in pieces (pipeline/_chunks.py); events found in a piece get
# offsets into the whole text. spaCy's own limit (max_length, 1,000,000 characters, error E088)
# is far above what the parser handles in bounded memory (about 1 GB per 100,000 characters,
# spaCy's docs say), and the parser slows down more than linearly on a long run-on sentence; so
# pieces are kept to PIECE_CHARS, above almost every article (so references across a cut are
# rare). Measured on a 1 MB line without sentence ends: 1,000,000-character pieces drove an
# ingest to 14 GB; 50,000 gave 3.2 GB; a 200 kB line took 63 s at 50,000 and 35 s at 10,000.
PIECE_CHARS = 20_000


#: characters of long-article pieces given to the model in one batch (see analyse_articles)
BATCH_CHARS = 80_000


def _runs_by_length(articles: Iterable[Article]) -> Iterator[tuple[bool, list[Article]]]:
    """Split `articles`, in order, into runs of ordinary ones and single long ones (over one piece)."""
    run: list[Article] = []
    for article in articles:
        if len(article.text or "") > PIECE_CHARS:
            if run:
                yield False, run
                run = []
            yield True, [article]
        else:
            run.append(article)
    if run:
        yield False, run


def _text_pieces(nlp: Language, article: Article) -> Iterator[tuple[str, tuple[Article, str, int, bool]]]:
    """Yield the article's text for `nlp.pipe` in pieces of at most PIECE_CHARS characters."""
    pieces = list(split_text(article.text or "", min(nlp.max_length, PIECE_CHARS)))
    for n, (offset, piece) in enumerate(pieces):
        yield piece, (article, "text", offset, n == len(pieces) - 1)


def _shift(event: Event, offset: int) -> Event:
    """Return `event` with its sentence offsets moved from a piece into the whole text."""
    return dataclasses.replace(event, start=event.start + offset, end=event.end + offset) if offset else event
