"""Deduplication: canonical URLs, article fingerprints (exact and near-duplicate), event identity.

Articles: `canonicalize_url` strips tracking parameters, fragments and AMP/mobile variants;
`text_hash` hashes the normalised text (exact copies); `fingerprint` adds a MinHash signature of
word shingles and its LSH band keys. The database stores the band keys in an indexed table, so
finding the candidates of a new article is a few index lookups, not a scan; `find_duplicates`
then compares the new fingerprint with the candidates' signatures.

Events: one event is type + source + target + substance + date window. `event_substance` turns
the content clause into its concepts (stems, mapped through the synonym lexicon
`data/synonyms.txt`); `identity_score` adds the cosine of the contents' sentence vectors
(`pipeline/embed.py`, when a model is configured) and the story the article continues;
`match_events` pairs the events of one article one to one with stored candidates, so two events
that extraction kept apart in one article never merge.

Thresholds are measured; see docs/pipeline.md ("Deduplication").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import snowballstemmer

from newswatch.pipeline.embed import Embedder, from_bytes, to_bytes
from newswatch.pipeline.records import Article, Event, EventType
from newswatch.pipeline.settings import DATA_DIR
from newswatch.pipeline.wordlist import load_word_list

__all__ = [
    "ArticleFingerprint",
    "BANDS",
    "BUCKET_DAYS",
    "CONTAINMENT_THRESHOLD",
    "DUPLICATE_THRESHOLD",
    "DuplicateMatch",
    "EventVectors",
    "EMPTY_SUBSTANCE_SCORE",
    "EVENT_KEY_DIGITS",
    "HEAD_BONUS",
    "KnownEvent",
    "MIN_SHARED_CONCEPTS",
    "MEANING_THRESHOLD",
    "MIN_SHINGLES",
    "NUM_PERM",
    "ROWS",
    "SHINGLE_WORDS",
    "STORY_MEANING_THRESHOLD",
    "STORY_THRESHOLD",
    "SUBSTANCE_THRESHOLD",
    "actor_key",
    "assign_pairs",
    "band_bucket",
    "band_buckets_near",
    "band_keys",
    "canonicalize_url",
    "content_names",
    "content_similarity",
    "embed_for_matching",
    "event_key",
    "event_meaning_text",
    "event_substance",
    "find_duplicates",
    "fingerprint",
    "identity_score",
    "inherit_events",
    "known_meaning_text",
    "load_synonyms",
    "match_event",
    "match_events",
    "meaning_text",
    "names_conflict",
    "normalize_text",
    "shares_concept",
    "shingles",
    "story_articles",
    "substance_similarity",
    "text_hash",
]

# --------------------------------------------------------------------------------------------
# Parameters (measured: docs/pipeline.md, "Deduplication")

#: Words per shingle. Five words survive small edits and ignore most stock phrases.
SHINGLE_WORDS = 5
#: MinHash permutations; BANDS * ROWS must equal it.
NUM_PERM = 160
#: LSH bands and rows per band: a pair with Jaccard s becomes a candidate with probability
#: 1 - (1 - s**ROWS)**BANDS: 0.45 -> 0.81, 0.5 -> 0.92, 0.6 -> 0.996, 0.7 -> 1.0, while pairs
#: of unrelated articles (s < 0.15) almost never do, so lookups stay cheap as the store grows.
BANDS = 40
ROWS = 4
#: Band keys are stored by the week of the article's date (`band_bucket`): the index keeps a
#: week's keys together, so storing an article writes to the pages of its own week, not to
#: pages scattered over every week stored, and a lookup reads the weeks near its date only.
BUCKET_DAYS = 7
#: Estimated Jaccard similarity of shingle sets from which an article is a near-duplicate.
DUPLICATE_THRESHOLD = 0.5
#: Estimated share of the shorter text's shingles found in the longer one from which an
#: article is a near-duplicate even below DUPLICATE_THRESHOLD (a copy cut to half its length).
CONTAINMENT_THRESHOLD = 0.75
#: Texts with fewer shingles are compared by exact hash only (a sentence is not a story).
MIN_SHINGLES = 8
#: Concept-set similarity (Dice) from which two events of one type, source and target are one.
SUBSTANCE_THRESHOLD = 0.3
#: Similarity from which an event merges into an event of a story the article already
#: continues (it restates another of that article's events): one shared concept is enough.
STORY_THRESHOLD = 0.2
#: Concepts two substances must share (a single shared word is a coincidence, not a demand).
MIN_SHARED_CONCEPTS = 2
#: Added when ranking candidates that share the head concept (the action wanted): of two
#: candidates above the threshold, the one asking for the same action wins.
HEAD_BONUS = 0.1
#: Cosine of two events' sentence vectors (`meaning_text`: the content framed by its actors)
#: from which they are one event of the same type, source, target and window even when the
#: lexicon sees no shared demand ("reinstate the president" / "hand power back to the elected
#: president"). Chosen on the merge pairs of dev and our own (docs/pipeline.md, "Event
#: identity"): restatements spread from 0.55 to 0.96, other demands of the same actors from
#: 0.33 to 0.96, so meaning adds what the lexicon misses above the bulk of the latter.
MEANING_THRESHOLD = 0.83
#: The same, inside a story the article continues (it restates another event of the stored
#: article, copies it, or shares two or more of its type/source/target combinations): the
#: one-to-one assignment keeps the story's other demands apart.
STORY_MEANING_THRESHOLD = 0.75
#: Score given to a pair where one side has no substance ("rejected the demand"): it merges
#: with a candidate that is otherwise the same event, but loses to any contentful match.
EMPTY_SUBSTANCE_SCORE = SUBSTANCE_THRESHOLD

_SEED = 1
#: Stored signatures and band keys depend on it: changing it means re-fingerprinting all articles.
_SCHEME: Literal["affine32"] = "affine32"

# --------------------------------------------------------------------------------------------
# URLs


@cache
def _tracking_params(path: Path = DATA_DIR / "tracking_params.txt") -> tuple[frozenset[str], tuple[str, ...]]:
    exact: set[str] = set()
    prefixes: list[str] = []
    for name in map(str.lower, load_word_list(path)):
        if name.endswith("*"):
            prefixes.append(name[:-1])
        else:
            exact.add(name)
    return frozenset(exact), tuple(prefixes)


_MOBILE_HOST = re.compile(
    r"^(?:" + "|".join(map(re.escape, load_word_list(DATA_DIR / "host_prefixes.txt"))) + r")\."
)
_AMP_PATH = re.compile(r"(?:/amp/?$|/amp(?=/)|\.amp(?=\.html?$|$))")


def canonicalize_url(url: str) -> str:
    """Return the canonical form of an article URL: the same page reached by any link.

    Lowercases scheme and host, drops `www.`/`m.`/`mobile.`/`amp.` host prefixes
    (`data/host_prefixes.txt`), default ports, fragments, tracking parameters
    (`data/tracking_params.txt`), AMP path variants (`/amp`, `.amp.html`) and a trailing slash,
    and sorts the remaining query parameters. A local path (not http/https) is returned with
    only its separators normalised.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return re.sub(r"/{2,}", "/", url.strip())
    host = (parts.hostname or "").lower()
    while _MOBILE_HOST.match(host) and host.count(".") > 1:
        host = _MOBILE_HOST.sub("", host, count=1)
    port = parts.port
    if port and not (scheme == "http" and port == 80 or scheme == "https" and port == 443):
        host = f"{host}:{port}"
    path = _AMP_PATH.sub("", parts.path) or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    exact, prefixes = _tracking_params()
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in exact and not k.lower().startswith(prefixes)
    )
    # http and https serve the same article; one canonical scheme
    return urlunsplit(("https", host, path, urlencode(query), ""))


# --------------------------------------------------------------------------------------------
# Article text

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": " ", "\u2013": " "})
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def normalize_text(text: str) -> str:
    """Return the text as lowercase words separated by single spaces (punctuation dropped)."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return " ".join(_WORD.findall(text))


def text_hash(text: str) -> str:
    """Return the SHA-256 of the normalised text: equal for copies that differ in layout only."""
    return _hash_normalized(normalize_text(text))


def _hash_normalized(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    """Return the set of `size`-word shingles of the normalised text."""
    return _shingles_of(normalize_text(text).split(), size)


def _shingles_of(words: list[str], size: int = SHINGLE_WORDS) -> set[str]:
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


@dataclass(frozen=True, slots=True)
class ArticleFingerprint:
    """What deduplication knows of an article.

    `signature` is the MinHash of its shingles (empty when the text is too short for near-duplicate
    detection); `bands` are the LSH band keys the database indexes (signed 64-bit integers, one
    per band, the band number hashed in); `shingle_count` sizes the shingle set.
    """

    canonical_url: str
    text_hash: str
    signature: tuple[int, ...] = ()
    bands: tuple[int, ...] = ()
    shingle_count: int = 0

    def signature_bytes(self) -> bytes:
        """Pack the signature for storage (4 bytes per permutation)."""
        return struct.pack(f"<{len(self.signature)}I", *self.signature)

    @staticmethod
    def unpack_signature(data: bytes | None) -> tuple[int, ...]:
        """Read a signature written by `signature_bytes`."""
        if not data:
            return ()
        return struct.unpack(f"<{len(data) // 4}I", data)


@cache
def _minhash_class() -> Any:
    """Import datasketch on first use: it pulls in SciPy (about two seconds), and read-only
    ingest runs that store no new article need not load it."""
    from datasketch import MinHash

    return MinHash


@cache
def _permutations() -> Any:
    """Return the MinHash permutations (computing them costs more than hashing an article)."""
    return _minhash_class()(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME).permutations


def band_keys(signature: Sequence[int], bands: int = BANDS, rows: int = ROWS) -> tuple[int, ...]:
    """Return one key per LSH band: a signed 64-bit hash of the band number and its rows."""
    if not signature:
        return ()
    keys = []
    for b in range(bands):
        chunk = struct.pack(f"<H{rows}I", b, *signature[b * rows : (b + 1) * rows])
        keys.append(int.from_bytes(hashlib.blake2b(chunk, digest_size=8).digest(), "little", signed=True))
    return tuple(keys)


def band_bucket(day: dt.date) -> int:
    """Return the bucket an article dated `day` stores its band keys under (weeks since year 1)."""
    return day.toordinal() // BUCKET_DAYS


def band_buckets_near(day: dt.date, days: int) -> list[int]:
    """Return the buckets holding every article dated within `days` days of `day`.

    The buckets are whole weeks, so they also hold some articles a few days further away.
    """
    # clamped to the calendar: a date near year 1 or 9999 must not overflow the window
    first = max(day.toordinal() - days, dt.date.min.toordinal())
    last = min(day.toordinal() + days, dt.date.max.toordinal())
    return list(range(first // BUCKET_DAYS, last // BUCKET_DAYS + 1))


def fingerprint(article: Article) -> ArticleFingerprint:
    """Fingerprint an article: canonical URL, exact text hash, MinHash signature and bands."""
    normalized = normalize_text(article.text)
    grams = _shingles_of(normalized.split())
    signature: tuple[int, ...] = ()
    if len(grams) >= MIN_SHINGLES:
        mh = _minhash_class()(num_perm=NUM_PERM, seed=_SEED, permutations=_permutations(), scheme=_SCHEME)
        mh.update_batch([g.encode("utf-8") for g in grams])  # a minimum: any order gives it
        signature = tuple(mh.hashvalues.tolist())
    return ArticleFingerprint(
        canonical_url=canonicalize_url(article.url),
        text_hash=_hash_normalized(normalized),
        signature=signature,
        bands=band_keys(signature),
        shingle_count=len(grams),
    )


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """A stored article the new one copies, and how: `exact`, `url` or `near` (with similarity)."""

    key: int
    reason: str
    similarity: float


def _estimate(a: ArticleFingerprint, b: ArticleFingerprint) -> tuple[float, float]:
    """Return the estimated Jaccard similarity and containment of two shingle sets."""
    if not a.signature or len(a.signature) != len(b.signature):
        return 0.0, 0.0
    jaccard = sum(1 for x, y in zip(a.signature, b.signature) if x == y) / len(a.signature)
    smaller = min(a.shingle_count, b.shingle_count)
    if smaller <= 0:
        return jaccard, jaccard
    common = jaccard / (1 + jaccard) * (a.shingle_count + b.shingle_count)
    return jaccard, min(1.0, common / smaller)


def find_duplicates(
    new: ArticleFingerprint,
    known: Iterable[tuple[int, ArticleFingerprint]],
    *,
    threshold: float = DUPLICATE_THRESHOLD,
    containment: float = CONTAINMENT_THRESHOLD,
) -> list[DuplicateMatch]:
    """Return the known articles that `new` duplicates, best first (ties: lowest key first).

    `known` are (key, fingerprint) pairs, typically the candidates that share a band, text hash
    or canonical URL with `new`. Same text hash or same canonical URL is an exact duplicate;
    otherwise the estimated Jaccard similarity of the shingle sets must reach `threshold`, or
    the estimated containment of the shorter in the longer must reach `containment`.
    """
    matches = []
    for key, fp in known:
        if fp.text_hash == new.text_hash:
            matches.append(DuplicateMatch(key, "exact", 1.0))
        elif fp.canonical_url == new.canonical_url:
            matches.append(DuplicateMatch(key, "url", 1.0))
        else:
            jaccard, contained = _estimate(new, fp)
            if jaccard >= threshold or contained >= containment:
                matches.append(DuplicateMatch(key, "near", jaccard))
    return sorted(matches, key=lambda m: (-m.similarity, m.key))


# --------------------------------------------------------------------------------------------
# Event identity


@dataclass(frozen=True, slots=True)
class _Lexicon:
    phrases: dict[tuple[str, ...], str]
    longest: int
    stopwords: frozenset[str]


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)  # news vocabulary repeats; the pure-Python stemmer is slow
def _stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def _tokens(text: str) -> list[str]:
    text = normalize_text(text.replace("-", " "))
    return [w.replace("'", "") for w in text.split() if not w.isdigit() or len(w) == 4]


def load_synonyms(path: Path) -> tuple[dict[tuple[str, ...], str], frozenset[str]]:
    """Read a synonym lexicon: `concept: term, term phrase, ...` lines and `- word word` stopwords.

    Returns the stemmed phrase -> concept map and the stemmed stopwords.
    """
    phrases: dict[tuple[str, ...], str] = {}
    stop: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            stop.update(_stem(w) for w in _tokens(line[1:]))
            continue
        concept, _, terms = line.partition(":")
        concept = concept.strip()
        for term in [concept, *terms.split(",")]:
            stems = tuple(_stem(w) for w in _tokens(term))
            if stems:
                phrases[stems] = concept
    return phrases, frozenset(stop)


@cache
def _lexicon(path: Path = DATA_DIR / "synonyms.txt") -> _Lexicon:
    phrases, stop = load_synonyms(path)
    return _Lexicon(phrases, max((len(p) for p in phrases), default=1), stop)


@lru_cache(maxsize=8192)
def event_substance(content: str) -> tuple[str, ...]:
    """Return the concepts of an event's content, in order: what is demanded, rejected...

    Words are stemmed; phrases and words of the synonym lexicon become their concept
    ("roll back" and "withdraw" -> `withdraw`, "drills" and "exercises" -> `exercise`);
    stopwords and reporting verbs are dropped. The first concept is the head of the clause,
    usually the action wanted ("withdraw", "end", "ban"). Empty for anaphoric content
    ("the demand").
    """
    lex = _lexicon()
    stems = [_stem(w) for w in _tokens(content)]
    concepts: dict[str, None] = {}
    i = 0
    while i < len(stems):
        for n in range(min(lex.longest, len(stems) - i), 0, -1):
            concept = lex.phrases.get(tuple(stems[i : i + n]))
            if concept is not None:
                if concept != "-":
                    concepts.setdefault(concept)
                i += n
                break
        else:
            if stems[i] not in lex.stopwords and len(stems[i]) > 1:
                concepts.setdefault(stems[i])
            i += 1
    return tuple(concepts)


def substance_similarity(a: Sequence[str], b: Sequence[str], *, min_shared: int = MIN_SHARED_CONCEPTS) -> float:
    """Return how far two substances are the same thing: 0 (unrelated) to 1.

    The Dice coefficient of the concept sets, counted only when they share at least
    `MIN_SHARED_CONCEPTS` concepts (or all of the smaller one): "cancel the arms package" and
    "cancel the visits" share an action, not a demand. `EMPTY_SUBSTANCE_SCORE` when either is
    empty: anaphoric content matches what it refers to.
    """
    if not a or not b:
        return EMPTY_SUBSTANCE_SCORE
    sa, sb = set(a), set(b)
    shared = len(sa & sb)
    if shared < min(min_shared, len(sa), len(sb)):
        return 0.0
    return 2 * shared / (len(sa) + len(sb))


_NAME_RUN = re.compile(r"(?<![.!?]\s)\b[A-Z][\w'’.-]*(?:\s+(?:of\s+|and\s+)?[A-Z][\w'’.-]*)*")


@lru_cache(maxsize=8192)
def content_names(content: str) -> frozenset[str]:
    """Return the concepts of the names in a content clause: the places and actors it is about.

    Names are runs of capitalised words after the first word ("withdraw troops from
    Moldova" -> `moldova`), mapped through the lexicon, so "Kyiv" and "Ukraine" or "Washington"
    and "the United States" are one name.
    """
    first = re.match(r"\s*\S+", content)
    body = content[first.end():] if first else content
    names: set[str] = set()
    for run in _NAME_RUN.findall(body):
        names.update(event_substance(run))
    return frozenset(names)


@lru_cache(maxsize=65536)  # dedup asks for one pair several times (placing, ranking, embedding)
def content_similarity(a: str, b: str, *, min_shared: int = MIN_SHARED_CONCEPTS) -> float:
    """Return how far two content clauses say the same thing, 0 (unrelated) to 1.

    The Dice coefficient of their concepts (`substance_similarity`), where names count as the
    story's setting unless they are what is acted on: both clauses of one story name Taiwan, so
    "cancel the arms package for Taiwan" and "cancel visits to Taipei" share an action only,
    while "close Al Jazeera" and "shut down Al Jazeera" share action and object. The concepts
    shared besides setting names must reach `min_shared` (or all of the smaller clause). Names
    also tell two demands apart: when each clause names a place or actor the other does not
    mention and none is common, they are different ("withdraw troops from Moldova" / "...
    from Georgia").
    """
    sub_a, sub_b = event_substance(a), event_substance(b)
    if not sub_a or not sub_b:
        return EMPTY_SUBSTANCE_SCORE
    if names_conflict(a, b):
        return 0.0
    names_a, names_b = content_names(a), content_names(b)
    objects = {sub_a[1]} & {sub_b[1]} if len(sub_a) > 1 and len(sub_b) > 1 else set()
    setting = (names_a | names_b) - objects
    sa, sb = set(sub_a), set(sub_b)
    substantive = len((sa & sb) - setting)
    if substantive < min(min_shared, len(sa - setting) or 1, len(sb - setting) or 1):
        return 0.0
    return 2 * len(sa & sb) / (len(sa) + len(sb))


@lru_cache(maxsize=65536)
def names_conflict(a: str, b: str) -> bool:
    """Tell whether two contents are about different places or actors: each names one the
    other does not mention, and none is common ("withdraw troops from Moldova" / "... from
    Georgia"). Meaning cannot outvote it: sentence vectors place the two close together."""
    names_a, names_b = content_names(a), content_names(b)
    return bool(names_a - set(event_substance(b)) and names_b - set(event_substance(a))
                and not names_a & names_b)


def shares_concept(a: str, b: str) -> bool:
    """Tell whether two contents share a lexicon concept (a name counts): outside a story,
    only such pairs are compared by meaning (`embed_for_matching`)."""
    return bool(set(event_substance(a)) & set(event_substance(b)))


def identity_score(
    a: str, b: str, cos: float | None = None, *, in_story: bool = False,
    threshold: float = SUBSTANCE_THRESHOLD,
) -> float:
    """Return how strongly two contents of one type, source, target and window are one event.

    0 when they are not; otherwise the lexicon's similarity (`content_similarity`, with the
    head bonus) plus the cosine `cos` of their sentence vectors. A pair counts when the lexicon
    reaches `threshold` (`STORY_THRESHOLD` with one shared concept in a story the article
    continues) or the cosine reaches `MEANING_THRESHOLD` (`STORY_MEANING_THRESHOLD` in a
    story), unless the two name different places (`names_conflict`). Without vectors
    (`cos` None: no model configured) the lexicon decides alone.
    """
    loose = in_story and STORY_THRESHOLD < threshold
    lexical = content_similarity(a, b, min_shared=1 if loose else MIN_SHARED_CONCEPTS)
    enough = lexical >= (STORY_THRESHOLD if loose else threshold)
    if cos is not None and not enough and event_substance(a) and event_substance(b):
        enough = cos >= (STORY_MEANING_THRESHOLD if in_story else MEANING_THRESHOLD) and not names_conflict(a, b)
    if not enough:
        return 0.0
    return _rank(a, b, 1 if loose else MIN_SHARED_CONCEPTS) + (max(cos, 0.0) if cos is not None else 0.0)


#: How `meaning_text` frames a content, per event type. Stored vectors depend on it (and on
#: the model): changing it means clearing `events.content_vector` (docs/pipeline.md).
_MEANING_FRAMES = {
    EventType.DEMAND: "{source} demanded that {target} {content}",
    EventType.REJECT: "{source} rejected the call of {target} to {content}",
    EventType.THREATEN: "{source} threatened {target}: {content}",
}


def meaning_text(content: str, source: str | None, target: str | None,
                 etype: EventType = EventType.DEMAND) -> str:
    """Return the text whose sentence vector stands for an event: its content framed by its
    actors ("Turkey demanded that Sweden extradite the suspects").

    Framed, restatements and other demands of the same actors drew further apart than the bare
    content clauses did (docs/pipeline.md, "Event identity").
    """
    frame = _MEANING_FRAMES.get(etype, _MEANING_FRAMES[EventType.DEMAND])
    return frame.format(source=source or "Someone", target=target or "the other side",
                        content=" ".join(content.split()))


def event_meaning_text(event: Event) -> str:
    """Return `meaning_text` of an extracted event (its actors as named in the article)."""
    return meaning_text(event.content, event.source.name if event.source else None,
                        event.target.name if event.target else None, event.type)


def _rank(a: str, b: str, min_shared: int = MIN_SHARED_CONCEPTS) -> float:
    """Order the candidates an event reaches: similarity, and a little more for the same head."""
    sub_a, sub_b = event_substance(a), event_substance(b)
    return content_similarity(a, b, min_shared=min_shared) + (HEAD_BONUS if sub_a and sub_b and sub_a[0] == sub_b[0] else 0.0)


@dataclass(frozen=True, slots=True)
class KnownEvent:
    """A stored event as dedup sees it: `contents` are its content and those of its mentions.

    `article` is the article that first reported it; `event_date` is None for the events of
    the original that a new article copies (they match whatever their date). `vector` is the
    sentence vector of its first content framed by its actors as named (`source_name`,
    `target_name`; `known_meaning_text`), as stored (float16 bytes, `embed.to_bytes`), None
    when it was stored without a model and not compared since.
    """

    key: int
    type: EventType
    source: str | None
    target: str | None
    contents: tuple[str, ...]
    event_date: dt.date | None = None
    article: int | None = None
    vector: bytes | None = None
    source_name: str | None = None
    target_name: str | None = None


def known_meaning_text(known: KnownEvent) -> str:
    """Return `meaning_text` of a stored event: its own content (the first) and actors."""
    return meaning_text(known.contents[0] if known.contents else "", known.source_name or known.source,
                        known.target_name or known.target, known.type)


#: Hex digits of the identity hash in an event key (160 bits, after the date).
EVENT_KEY_DIGITS = 40


def event_key(event: Event, event_date: dt.date | None) -> str:
    """Return the key an event is stored under: the same event on the same date, the same key.

    Exact identity only (type, source, target, normalised content, date): restatements in other
    words are `match_events`' business. The key is the date, "/", and a hash of the rest.
    """
    parts = [
        event.type.value,
        event.source.code or event.source.name if event.source else "",
        event.target.code or event.target.name if event.target else "",
        " ".join(event.content.lower().split()),
        event_date.isoformat() if event_date else "",
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:EVENT_KEY_DIGITS]
    # dated first: the unique index keeps one day's keys together, so storing today's events
    # writes to the index pages of recent days, not to pages spread over every day stored
    return f"{event_date.isoformat() if event_date else '-'}/{digest}"


def actor_key(code: str | None, name: str | None) -> str | None:
    """Return the identity of an actor in an event: its code, else its lowercased name."""
    if code:
        return code
    return name.strip().lower() if name else None


def _event_actor(event: Event, side: str) -> str | None:
    actor = event.source if side == "source" else event.target
    return actor_key(actor.code, actor.name) if actor else None


def _in_window(a: dt.date | None, b: dt.date | None, days: int) -> bool:
    return a is None or b is None or abs((a - b).days) <= days


def _compatible(event: Event, date: dt.date | None, cand: KnownEvent, window: int) -> bool:
    """Tell whether `cand` has the event's type and source, a compatible target and a date
    within the window: the candidates `list_event_candidates` narrows down to."""
    if cand.type != event.type or cand.source != _event_actor(event, "source"):
        return False
    target = _event_actor(event, "target")
    if target is not None and cand.target is not None and target != cand.target:
        return False
    return _in_window(date, cand.event_date, window)


def _score(event: Event, cand: KnownEvent, cos: float | None, threshold: float, in_story: bool) -> float:
    """Return the rank of `cand` for `event` (its best content), 0 when it is not the same event."""
    return max(identity_score(event.content, other, cos, in_story=in_story, threshold=threshold)
               for other in cand.contents or ("",))


def _compatible_ones(
    events: Sequence[Event], event_date: dt.date | None, candidates: Sequence[KnownEvent], window: int,
) -> list[list[int]]:
    """The indices of the candidates `_compatible` with each event, found through an index by
    type and source: every pair is not compared (a 300,000-character article has thousands of
    events, and so thousands of candidates for the next one)."""
    by_speaker: dict[tuple[EventType, str | None], list[int]] = {}
    for j, cand in enumerate(candidates):
        by_speaker.setdefault((cand.type, cand.source), []).append(j)
    return [
        [j for j in by_speaker.get((event.type, _event_actor(event, "source")), ())
         if _compatible(event, event_date, candidates[j], window)]
        for event in events
    ]


class _Cosines:
    """Cosine of a new event's vector with a candidate's stored one, computed when asked
    (None where either is missing)."""

    def __init__(self, vectors: Sequence[Any], candidates: Sequence[KnownEvent]) -> None:
        self.vectors = vectors
        self.stored = [from_bytes(c.vector) if c.vector else None for c in candidates]

    def __call__(self, i: int, j: int) -> float | None:
        v, w = self.vectors[i], self.stored[j]
        return float(v @ w) if v is not None and w is not None and len(v) == len(w) else None


def story_articles(
    events: Sequence[Event], event_date: dt.date | None, candidates: Sequence[KnownEvent], window_days: int,
) -> set[int]:
    """Return the stored articles the new article continues by its actors: two or more of its
    events (of distinct type, source and target) each have a candidate from that article."""
    combos: dict[int, set[tuple[str, str | None, str | None]]] = {}
    for event, compatible in zip(events, _compatible_ones(events, event_date, candidates, window_days)):
        combo = (event.type.value, _event_actor(event, "source"), _event_actor(event, "target"))
        for j in compatible:
            if (article := candidates[j].article) is not None:
                combos.setdefault(article, set()).add(combo)
    return {article for article, seen in combos.items() if len(seen) >= 2}


@dataclass(frozen=True, slots=True)
class EventVectors:
    """The sentence vectors one match needs (`embed_for_matching`).

    `events`: one per new event, None for those with no candidate to compare with;
    `candidates`: the candidates, each with its vector; `computed`: the vectors of candidates
    stored without one, by key, for the caller to store (each is computed once).
    """

    events: list[Any]
    candidates: list[KnownEvent]
    computed: dict[int, bytes]


def _to_embed(
    events: Sequence[Event], event_date: dt.date | None, candidates: Sequence[KnownEvent], window_days: int,
) -> tuple[list[int], list[int]]:
    """The events `embed_for_matching` embeds and the candidates whose vectors it computes."""
    story = story_articles(events, event_date, candidates, window_days) | {
        c.article for c in candidates if c.event_date is None}
    pairs: dict[int, list[int]] = {}
    for i, (event, compatible) in enumerate(zip(events, _compatible_ones(events, event_date, candidates,
                                                                       window_days))):
        if not compatible or not event_substance(event.content):
            continue
        if any(_score(event, candidates[j], None, SUBSTANCE_THRESHOLD, in_story=False) > 0 for j in compatible):
            continue  # the lexicon places it
        plausible = [j for j in compatible if _meaning_can_decide(event.content, candidates[j].contents) and (
            candidates[j].article in story or any(shares_concept(event.content, c) for c in candidates[j].contents))]
        if plausible:
            pairs[i] = plausible
    missing = sorted({j for js in pairs.values() for j in js if candidates[j].vector is None})
    return sorted(pairs), missing


def _meaning_can_decide(content: str, contents: Sequence[str]) -> bool:
    """Tell whether a cosine could make a candidate with `contents` the same event as `content`:
    `identity_score` lets meaning decide only for a pair with substance whose names do not
    conflict, so a candidate about another place ("... from Georgia" for "... from Moldova")
    scores 0 whatever the vectors say, and embedding it would be wasted."""
    return any(event_substance(other) and not names_conflict(content, other) for other in contents)


def embed_for_matching(
    embedder: Embedder, events: Sequence[Event], event_date: dt.date | None,
    candidates: Sequence[KnownEvent], *, window_days: int = 2,
) -> EventVectors:
    """Embed what meaning can decide when comparing `events` with `candidates`, in one
    `encode` call, and nothing else.

    An event is embedded when the lexicon finds it no counterpart (`identity_score` without
    vectors) and a compatible candidate is plausible: it shares a concept with the event, or
    belongs to a story the article continues by its actors (`story_articles`) or copies, and
    does not name another place or actor (`_meaning_can_decide`). The plausible candidates
    stored without a vector are embedded with it. So an article on a new story pays nothing,
    an event the lexicon already places pays nothing, and a stored vector is never recomputed.
    Measured on the merge pairs, requiring a shared concept outside a story costs 2 of 84
    decisions (docs/pipeline.md, "Event identity").
    """
    wanted, missing = _to_embed(events, event_date, candidates, window_days)
    vectors: list[Any] = [None] * len(events)
    if not wanted:
        return EventVectors(vectors, list(candidates), {})
    out = embedder.encode([event_meaning_text(events[i]) for i in wanted]
                          + [known_meaning_text(candidates[j]) for j in missing])
    for n, i in enumerate(wanted):
        vectors[i] = out[n]
    computed = {candidates[j].key: to_bytes(out[len(wanted) + n]) for n, j in enumerate(missing)}
    filled = [replace(c, vector=computed[c.key]) if c.key in computed else c for c in candidates]
    return EventVectors(vectors, filled, computed)


def match_events(
    events: Sequence[Event],
    event_date: dt.date | None,
    candidates: Sequence[KnownEvent],
    *,
    window_days: int = 2,
    threshold: float = SUBSTANCE_THRESHOLD,
    vectors: Sequence[Any] | None = None,
) -> list[int | None]:
    """Pair the events of one article with stored events; return the matched key per event.

    An event matches a candidate of the same type and source, a compatible target (equal, or
    either unknown), a date within `window_days` and an `identity_score` above 0: the lexicon's
    similarity reaches `threshold`, or the cosine of `vectors` (one unit vector per event, the
    candidates' own stored in `KnownEvent.vector`; None switches meaning off) reaches
    `MEANING_THRESHOLD`. Pairs are assigned one to one for the best total (`assign_pairs`): two
    events of one article never become one. Then the story counts: once the article restates
    events of a stored article, copies it, or shares two or more of its type/source/target
    combinations (`story_articles`), its remaining events merge into that article's remaining
    events of the same type, source and target on less evidence (`STORY_THRESHOLD` with one
    shared concept, or `STORY_MEANING_THRESHOLD`): a follow-up retells its story in other
    words. An event without substance merges only into such a story (or into the original it
    copies).
    """
    cosines = _Cosines(vectors, candidates) if vectors is not None else None
    scored: list[tuple[float, int, int]] = []
    in_story: list[tuple[float, int, int]] = []
    anaphoric: list[tuple[float, int, int]] = []
    compatible = _compatible_ones(events, event_date, candidates, window_days)
    for i, event in enumerate(events):
        substance = event_substance(event.content)
        for j in compatible[i]:
            cand = candidates[j]
            cos = cosines(i, j) if cosines is not None else None
            score = _score(event, cand, cos, threshold, in_story=False)
            if score <= 0:
                if substance and any(event_substance(c) for c in cand.contents):
                    loose = _score(event, cand, cos, threshold, in_story=True)
                    if loose > 0:
                        in_story.append((loose, i, j))
                continue
            if not substance or not any(event_substance(c) for c in cand.contents):
                anaphoric.append((score, i, j))
            else:
                scored.append((score, i, j))
    result: list[int | None] = [None] * len(events)
    used: set[int] = set()
    for i, j in assign_pairs(scored).items():
        result[i] = candidates[j].key
        used.add(j)
    # An event with no substance ("rejected the proposals") refers to something said in its
    # story: it merges only into a story this article already shares events with (or copies).
    same_story = {candidates[j].article for j in used} - {None} | {
        c.article for c in candidates if c.event_date is None
    }
    by_actors = story_articles(events, event_date, candidates, window_days)
    for pairs, story in ((in_story, same_story | by_actors), (anaphoric, same_story)):
        free = [(s, i, j) for s, i, j in pairs
                if result[i] is None and j not in used and candidates[j].article in story]
        for i, j in assign_pairs(free).items():
            result[i] = candidates[j].key
            used.add(j)
    return result


#: Components of the event/candidate graph up to this many candidates are assigned exactly
#: (best total score); larger ones (never seen in news) best pair first.
_EXACT_ASSIGNMENT = 12


def assign_pairs(pairs: Sequence[tuple[float, int, int]]) -> dict[int, int]:
    """Pair left items with right items one to one so that the total score is highest.

    `pairs` are (score, left, right) with score > 0; the result maps left -> right. Unlike
    taking each pair above a threshold, an item is never given two partners, and of two
    overlapping pairs the combination that explains both sides best wins ("withdraw forces"
    and "end the drills" each keep their own counterpart even when one restatement also
    resembles the other). Ties go to the lowest indices, so the outcome is deterministic.
    """
    best: dict[tuple[int, int], float] = {}
    for score, i, j in pairs:
        if score > 0 and score > best.get((i, j), 0.0):
            best[(i, j)] = score
    result: dict[int, int] = {}
    for component in _components(best):
        lefts = sorted({i for i, _ in component})
        rights = sorted({j for _, j in component})
        if len(rights) > _EXACT_ASSIGNMENT:
            taken: set[int] = set()
            for i, j in sorted(component, key=lambda p: (-best[p], p)):
                if i not in result and j not in taken:
                    result[i] = j
                    taken.add(j)
            continue
        result.update(_exact_assignment(lefts, rights, {p: best[p] for p in component}))
    return result


def _components(scores: dict[tuple[int, int], float]) -> list[list[tuple[int, int]]]:
    """Split the scored pairs into connected groups (no item of one group in another)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def root(x: tuple[str, int]) -> tuple[str, int]:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for i, j in scores:
        parent[root(("l", i))] = root(("r", j))
    groups: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for i, j in sorted(scores):
        groups.setdefault(root(("l", i)), []).append((i, j))
    return list(groups.values())


def _exact_assignment(
    lefts: list[int], rights: list[int], scores: dict[tuple[int, int], float]
) -> dict[int, int]:
    """Best-total one-to-one pairing of a small group (dynamic programme over used rights)."""
    index = {j: n for n, j in enumerate(rights)}

    @cache
    def solve(k: int, used: int) -> tuple[float, tuple[tuple[int, int], ...]]:
        if k == len(lefts):
            return 0.0, ()
        best_total, best_pairs = -1.0, cast(tuple[tuple[int, int], ...], ())
        for j in rights:
            bit = 1 << index[j]
            score = scores.get((lefts[k], j))
            if score is None or used & bit:
                continue
            total, rest = solve(k + 1, used | bit)
            # strictly better only: earlier (lower) rights win ties
            if total + score > best_total + 1e-9:
                best_total, best_pairs = total + score, ((lefts[k], j), *rest)
        total, rest = solve(k + 1, used)  # lefts[k] unpaired; ties go to pairing it
        if total > best_total + 1e-9:
            best_total, best_pairs = total, rest
        return best_total, best_pairs

    return dict(solve(0, 0)[1])


#: Weights of the parts of a copy's event that point to the original's event it reports: the
#: content most, then the source, then the target (a copy edit renames actors more often than
#: it changes what was demanded, and a target is the part extraction most often misses).
_COPY_WEIGHTS = (1.0, 0.5, 0.25)


def _copy_score(event: Event, substance: tuple[str, ...], original: KnownEvent,
                known: Sequence[tuple[str, ...]]) -> float:
    """Return how well `original` (whose contents have the substances `known`) explains a
    copy's `event` (> 0 whenever the types agree)."""
    if original.type != event.type:
        return 0.0
    content = max((_dice(substance, k) for k in known), default=0.0)
    source = _event_actor(event, "source") == original.source
    target = _event_actor(event, "target")
    same_target = target == original.target or target is None or original.target is None
    w_content, w_source, w_target = _COPY_WEIGHTS
    # the base keeps every same-type pair positive: any same-type event is a possible home
    return 0.01 + w_content * content + w_source * source + w_target * same_target


def _dice(a: Sequence[str], b: Sequence[str]) -> float:
    if not a or not b:
        return 0.0
    sa, sb = set(a), set(b)
    return 2 * len(sa & sb) / (len(sa) + len(sb))


#: Event types whose restatement inside one article is the same event (see `restatements`).
#: Not demands: an article's list of demands by one actor of another shares heads and words.
RESTATED_TYPES = frozenset({EventType.REJECT, EventType.THREATEN})


def restatements(events: Sequence[Event]) -> list[int | None]:
    """Return, per event of one article, the index of an earlier event of it that it restates.

    A wire story reports a refusal or a threat in its lead and again in a quote ("Sweden said it
    saw no reason to negotiate with Hungary over its NATO bid" ... "'I see no reason to
    negotiate at this point,' Billstrom said"): one event, two mentions. A later event
    restates an earlier one of `RESTATED_TYPES` with the same type and source, a compatible
    target (equal, or either unnamed), the same head concept (the action refused or
    threatened) and a lexicon similarity of a story (`STORY_THRESHOLD` on one shared concept).
    """
    found: list[int | None] = [None] * len(events)
    for i, event in enumerate(events):
        head = event_substance(event.content)[:1]
        if event.type not in RESTATED_TYPES or not head or _event_actor(event, "source") is None:
            continue
        for j in range(i):
            earlier = events[j]
            if found[j] is not None or earlier.type is not event.type:
                continue
            if _event_actor(earlier, "source") != _event_actor(event, "source"):
                continue
            a, b = _event_actor(event, "target"), _event_actor(earlier, "target")
            if a is not None and b is not None and a != b:
                continue
            if event_substance(earlier.content)[:1] != head:
                continue
            if content_similarity(event.content, earlier.content, min_shared=1) >= STORY_THRESHOLD:
                found[i] = j
                break
    return found


#: How many of the original's events a copy's event is paired against (its best-scored ones).
COPY_HOMES = 8


def inherit_events(events: Sequence[Event], originals: Sequence[KnownEvent]) -> list[int | None]:
    """Return, per event of a syndicated copy, the key of the original's event it reports.

    A near-duplicate (`find_duplicates`) reports the original's story, so it adds no event of
    its own: its events become mentions of the original's events. They are paired one to one
    by type, then content, source and target (`assign_pairs`), so a copy that renamed the
    source ("the Kremlin" for "Russia") still lands on the right event; events left over (the
    copy yields more events of a type than the original) join the original's closest event
    of the same type. None where the original has no event of that type at all: the copy
    text says the same as the original's, so such an event is a misreading of an edited
    sentence, not a new statement, and is not recorded (the copy's article text still is).
    """
    substances = [event_substance(e.content) for e in events]
    known = [tuple(event_substance(c) for c in o.contents or ("",)) for o in originals]
    result: list[int | None] = [None] * len(events)
    # Word for word the same event (type, actors, content) pairs at once: a copy's events are
    # mostly its original's, and scoring every pair is quadratic (thousands of events in a
    # 300,000-character article took minutes and a gigabyte).
    exact: dict[tuple[EventType, str | None, str | None, str], list[int]] = {}
    for j, original in enumerate(originals):
        exact.setdefault((original.type, original.source, original.target, original.contents[0]
                          if original.contents else ""), []).append(j)
    taken: set[int] = set()
    rest: list[int] = []
    for i, event in enumerate(events):
        same = exact.get((event.type, _event_actor(event, "source"), _event_actor(event, "target"),
                          event.content))
        if same:
            taken.add(j := same.pop(0))
            result[i] = originals[j].key
        else:
            rest.append(i)
    by_type: dict[EventType, list[int]] = {}
    for j, original in enumerate(originals):
        by_type.setdefault(original.type, []).append(j)
    scores: list[tuple[float, int, int]] = []
    closest: dict[int, int] = {}
    for i in rest:
        ranked = sorted(((-_copy_score(events[i], substances[i], originals[j], known[j]), j)
                         for j in by_type.get(events[i].type, ())))
        if ranked:
            closest[i] = ranked[0][1]
        # an event's few best homes are enough for the pairing, and keep it small
        scores.extend((-neg, i, j) for neg, j in [r for r in ranked if r[1] not in taken][:COPY_HOMES])
    paired = assign_pairs(scores)
    for i in rest:
        if i in paired:
            result[i] = originals[paired[i]].key
        elif i in closest:  # left over: the closest event of its type
            result[i] = originals[closest[i]].key
    return result


def match_event(
    event: Event,
    event_date: dt.date | None,
    candidates: Sequence[KnownEvent],
    *,
    window_days: int = 2,
    threshold: float = SUBSTANCE_THRESHOLD,
    vector: Any | None = None,
) -> int | None:
    """Return the key of the stored event that `event` restates, or None for a new event."""
    return match_events([event], event_date, candidates, window_days=window_days, threshold=threshold,
                        vectors=None if vector is None else [vector])[0]
