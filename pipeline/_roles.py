"""Roles of a matched event trigger: source, target and content, read off the dependency parse.

`pipeline/extract.py` matches triggers (DependencyMatcher patterns from `triggers.jsonl`);
this module turns each match into a `Candidate` and then into `Event` records. Four frames,
chosen by the nodes a pattern names:

- a verb trigger ("Russia demanded that NATO ...", "Kyiv was urged by Brussels to ..."): the
  source is the verb's subject (or passive agent), the content its complement clause or object;
- a noun trigger with an `issue` node ("raised the demand for", "issued an ultimatum to"):
  the source is the subject of the issuing verb, the content the noun's complement;
- a clause-internal trigger ("... must", "would cross a red line", "or face countermeasures",
  "out of the question"): the statement belongs to whoever reports the clause, so the source is
  the source of the enclosing speech event ("Erdogan said Sweden must ..."); unreported, no event;
- a trigger with a `source` or `target` node: those tokens win.

Sources that refer back ("he", "the documents", "the spokesman") are resolved against the
actors named earlier in the document. The actor mentions are read from the Doc
(`doc._.actor_index`, set by `newswatch_actors`), indexed by token position, so a lookup never
scans the whole document; the word lists come in as `RoleWords` (from `words.tsv`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from newswatch.pipeline import _spacy  # noqa: F401  # before spaCy: keeps PyTorch out
from spacy.tokens import Doc, Span, Token

from newswatch.pipeline.actors import ActorIndex
from newswatch.pipeline.records import Actor, Event, EventType
from newswatch.pipeline.wordlist import pick_word_lists

ActorOf = Callable[[Token], "Actor | None"]

_SUBJECTS = frozenset({"nsubj", "csubj"})
_PASSIVE_SUBJECTS = frozenset({"nsubjpass", "csubjpass"})
_OBJECTS = frozenset({"dobj", "dative", "obj", "iobj"})
# Words that only point at an actor named elsewhere (pronouns: grammar, not vocabulary).
_PRONOUNS_PERSON = frozenset({"he", "she", "him", "her", "his"})
_PRONOUNS_SPEAKER = frozenset({"i", "we", "us", "me", "our", "my"})
_PRONOUNS_OTHER = frozenset({"it", "they", "them", "its", "their", "itself", "themselves"})
_HYPOTHETICAL_MODALS = frozenset({"would", "could", "might", "may"})
_CONDITION_MARKS = frozenset({"if", "unless"})
_EDGE_SKIP = frozenset({"mark", "punct", "cc", "prep", "advmod"})
_SPLIT_DEPS = frozenset({"conj"})
_PRONOUNS_PLURAL = frozenset({"they", "them", "their", "themselves"})
_VICTIM_PREPS = frozenset({"on", "against", "in", "into", "upon"})


@dataclass(frozen=True, slots=True)
class RoleWords:
    """The word lists of role resolution, as loaded from `words.tsv` (one field a list)."""

    referring_nouns: frozenset[str]  # stand for who issued or spoke them ("the spokesman said")
    document_nouns: frozenset[str]  # documents speak for whoever issued them
    hypothetical_governors: frozenset[str]  # "appear certain to", "is expected to", "plans to"
    protest_words: frozenset[str]  # a purpose clause of these makes a demand a protest
    reciprocal_failures: frozenset[str]  # failing to agree takes two: the partner is the target
    date_words: frozenset[str]  # a demand's content of only these (and names) says nothing wanted
    home_bodies: frozenset[str]  # the speaker's own institutions: "urged parliament to" asks no other side
    collective_nouns: frozenset[str]  # "the bloc", "the four states": the side that made the last demand
    list_nouns: frozenset[str]  # "its conditions:", "the demands include:": a list of demands follows
    list_verbs: frozenset[str]  # "requires Doha to:": a verb whose complement is a list of demands
    hostile_acts: frozenset[str]  # "an attack on X", "sanctions against X": X is a victim, not a target
    state_nouns: frozenset[str]  # "the country": the speaker's state, else the state named last
    undoing_verbs: frozenset[str]  # "lift the sanctions on X": refusing this is aimed at X after all
    demand_nouns: frozenset[str]  # what a refusal turns down; its issuer may be named earlier ("the list")

    @classmethod
    def from_lists(cls, lists: Mapping[str, Iterable[str]]) -> RoleWords:
        """Pick this class's lists out of `lists` (as `load_word_lists` returns them).

        Raises DataFileError naming the lists that are missing.
        """
        return pick_word_lists(cls, lists, "newswatch_events")


@dataclass
class Candidate:
    """One trigger match on its way to becoming an event."""

    pattern_id: str
    type: EventType
    nodes: dict[str, Token]
    frame: str  # "verb", "noun", "clause"
    trigger: Token
    predicate: Token
    source_token: Token | None = None
    target_token: Token | None = None
    content_head: Token | None = None
    content_tokens: frozenset[int] = frozenset()
    exclude: frozenset[int] = frozenset()
    scope: frozenset[int] = frozenset()
    unknown_addressee: bool = False
    source: Actor | None = None
    target: Actor | None = None
    parts: list[tuple[frozenset[int], Token | None]] = field(default_factory=list)
    dropped: bool = False


# ---------------------------------------------------------------------------------------------
# parse helpers


def _children(token: Token, deps: Iterable[str]) -> list[Token]:
    wanted = set(deps)
    return [c for c in token.children if c.dep_ in wanted]


def _first_child(token: Token, deps: Iterable[str]) -> Token | None:
    found = _children(token, deps)
    return found[0] if found else None


def _is_negated(token: Token) -> bool:
    return any(c.dep_ == "neg" or c.lower_ in ("never", "no") and c.dep_ in ("advmod", "neg", "det")
               for c in token.children)


def _modals(token: Token) -> set[str]:
    return {c.lower_ for c in token.children if c.dep_ == "aux" and c.tag_ == "MD"}


def _subject(verb: Token, depth: int = 0) -> tuple[Token | None, bool]:
    """Return the subject of `verb` (following conjunctions and control verbs) and whether the
    clause is passive."""
    if depth > 4:
        return None, False
    subjects = _children(verb, _SUBJECTS)
    if subjects:
        # the subject nearest the verb: "KYIV — Ukraine's foreign minister ... urged"
        before = [s for s in subjects if s.i < verb.i]
        return (before[-1] if before else subjects[0]), False
    subj = _first_child(verb, _PASSIVE_SUBJECTS)
    if subj is not None:
        return subj, True
    head = verb.head
    if head == verb:
        return None, False
    if verb.dep_ == "conj" and head.pos_ in ("VERB", "AUX"):
        return _subject(head, depth + 1)
    if verb.dep_ == "xcomp" and head.pos_ in ("VERB", "AUX", "ADJ"):
        # "refused to commit": the controller is the head's subject ("urged X to" handled by caller)
        obj = _first_child(head, _OBJECTS)
        if obj is not None and head.pos_ == "VERB":
            return obj, False
        return _subject(head, depth + 1)
    if verb.dep_ in ("acl", "relcl") and verb.tag_ == "VBG" and head.pos_ in ("NOUN", "PROPN"):
        return head, False  # "draft pacts demanding ...": the document speaks
    if verb.dep_ == "advcl" and verb.tag_ == "VBG":
        return _subject(head, depth + 1)
    return None, False


def _agent(verb: Token) -> Token | None:
    for c in verb.children:
        if c.dep_ == "agent":
            return _first_child(c, ("pobj",))
    return None


def _in_subtree(token: Token, root: Token) -> bool:
    return root.left_edge.i <= token.i <= root.right_edge.i and (
        token == root or any(a == root for a in token.ancestors)
    )


def _path_has(token: Token, words: frozenset[str], limit: int = 3) -> bool:
    node = token
    for _ in range(limit):
        if node.head == node:
            return False
        node = node.head
        if node.lemma_.lower() in words or node.lower_ in words:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# candidates


def make_candidate(pattern_id: str, label: EventType, names: Sequence[str], token_ids: Sequence[int],
                   doc: Doc, frame: str | None = None) -> Candidate:
    """Build a candidate from one DependencyMatcher match (`names` are the pattern's RIGHT_IDs).

    `frame` "clause" (a pattern's optional `frame` field) makes a verb trigger clause-internal:
    "they would boycott ..." is a threat of whoever says it.
    """
    nodes = {name: doc[i] for name, i in zip(names, token_ids)}
    trigger = doc[token_ids[0]]
    if frame == "clause" and trigger.pos_ in ("VERB", "AUX") and trigger.tag_ != "MD":
        return Candidate(pattern_id, label, nodes, "clause", trigger, trigger)
    if "issue" in nodes:
        frame, predicate = "noun", nodes["issue"]
    elif trigger.pos_ in ("VERB",) or (trigger.pos_ == "AUX" and trigger.tag_ != "MD"):
        frame, predicate = "verb", trigger
    else:
        frame = "clause"
        predicate = trigger
        while predicate.pos_ not in ("VERB", "AUX") or predicate.tag_ == "MD":
            if predicate.head == predicate:
                break
            predicate = predicate.head
    return Candidate(pattern_id, label, nodes, frame, trigger, predicate)


def is_excluded(c: Candidate, words: RoleWords) -> bool:
    """Negated, hypothetical and purpose-clause triggers are not events of their kind."""
    p = c.predicate
    if _describes_attribute(p):
        return True
    if c.trigger.tag_ != "MD" and "neg" not in c.nodes and _is_negated(p):
        return True
    if c.frame == "verb":
        modals = _modals(p)
        conditional = any(
            x.dep_ == "advcl" and any(m.lower_ in _CONDITION_MARKS for m in x.children if m.dep_ == "mark")
            for x in p.children
        )
        refusal = c.type is EventType.REJECT and "neg" in c.nodes  # "would not approve it if ..."
        if modals & _HYPOTHETICAL_MODALS and (conditional and not refusal or "neg" not in c.nodes and p.head == p):
            return True
        if p.dep_ in ("xcomp", "ccomp", "acomp") and p.head.lemma_.lower() in words.hypothetical_governors:
            return True
        to = any(x.dep_ == "aux" and x.lower_ == "to" for x in p.children)
        if to and p.dep_ in ("advcl", "xcomp", "acl", "relcl") and c.type is not EventType.STATEMENT:
            head = p.head
            # "refused to", "threatened to", "decided to": the governor carries the event
            if p.dep_ == "advcl" or head.lemma_.lower() in words.protest_words or head.pos_ == "NOUN":
                return True
        if p.tag_ == "VBG" and p.dep_ in ("advcl", "acl", "pcomp", "xcomp") and _path_has(p, words.protest_words):
            return True
    return False


def _joined_by_and(doc: Doc, first: Span, second: Span) -> bool:
    """Whether two mentions stand side by side joined by "and" ("Mali and Burkina Faso")."""
    between = [t.lower_ for t in doc[first.end:second.start]]
    return bool(between) and between[-1] in ("and", "&") and all(w in ("and", "&", ",") for w in between)


def _describes_attribute(p: Token) -> bool:
    """Whether `p` heads a relative clause that only describes what a subject is: "Hungary is the
    only member that has not approved the bid" states a fact about Hungary, not a new refusal."""
    noun = p.head
    return (p.dep_ == "relcl" and noun.dep_ == "attr" and noun.head.lemma_ == "be"
            and any(t.dep_ in _SUBJECTS for t in noun.head.children))


# ---------------------------------------------------------------------------------------------
# content


def _alternatives(head: Token) -> set[int]:
    """Conjuncts introduced by "or" ("must stop ... or face countermeasures"): the threatened
    alternative, not part of what is demanded."""
    if not any(c.dep_ == "cc" and c.lower_ == "or" for c in head.children):
        return set()
    out: set[int] = {c.i for c in head.children if c.dep_ == "cc"}
    for c in head.children:
        if c.dep_ == "conj" and c.pos_ in ("VERB", "AUX"):
            out |= {t.i for t in c.subtree}
    return out


def _second_reports(head: Token) -> set[int]:
    """Conjuncts with a "that" of their own ("said they would treat it as war, and that they
    would not enforce the sanctions"): a second reported clause, its own event."""
    out: set[int] = set()
    for c in head.children:
        if c.dep_ == "conj" and c.pos_ in ("VERB", "AUX") and any(
            m.dep_ == "mark" and m.lower_ == "that" for m in c.children
        ):
            out |= {t.i for t in c.subtree}
            out |= {x.i for x in head.children if x.dep_ == "cc" and x.i < c.i}
    return out


def _clause_tokens(head: Token, drop: set[int]) -> set[int]:
    drop = drop | _alternatives(head) | _second_reports(head)
    keep = {t.i for t in head.subtree}
    for t in head.subtree:
        if t.i in drop:
            keep -= {x.i for x in t.subtree}
    return keep


def _trim(doc: Doc, ids: set[int]) -> list[int]:
    ordered = sorted(ids)
    while ordered and (doc[ordered[0]].dep_ in ("mark", "punct", "cc", "aux") and
                       (doc[ordered[0]].tag_ in ("TO", "IN", "MD", ",", "``", "''", ":", "CC", "WDT", "HYPH")
                        or doc[ordered[0]].is_punct)):
        ordered.pop(0)
    while ordered and (doc[ordered[-1]].is_punct or doc[ordered[-1]].is_space or doc[ordered[-1]].dep_ == "cc"):
        ordered.pop()
    return ordered


def span_text(doc: Doc, ids: Iterable[int]) -> str:
    """The text of tokens `ids` in document order, keeping the original spacing."""
    ordered = sorted(ids)
    out: list[str] = []
    for n, i in enumerate(ordered):
        tok = doc[i]
        nxt = ordered[n + 1] if n + 1 < len(ordered) else None
        out.append(tok.text + (tok.whitespace_ if nxt == i + 1 else (" " if nxt is not None else "")))
    return "".join(out).strip().strip("\"“”'‘’ ,;:—-").strip()


def _content_head(c: Candidate, actor_of: ActorOf) -> Token | None:
    if "content" in c.nodes:
        node = c.nodes["content"]
        if node.dep_ == "prep":  # "call for a ban": what is called for, not the preposition
            obj = _first_child(node, ("pobj", "pcomp"))
            return obj if obj is not None else node
        return node
    p = c.predicate
    if c.frame == "noun":
        noun = c.trigger
        for dep in ("acl", "ccomp", "relcl"):
            x = _first_child(noun, (dep,))
            if x is not None and x.pos_ in ("VERB", "AUX"):
                return x
        for prep in _children(noun, ("prep",)):
            if prep.lower_ in ("for", "on", "of", "to", "that"):
                obj = _first_child(prep, ("pobj", "pcomp"))
                if obj is not None:
                    return obj
        for dep in ("ccomp", "xcomp"):
            x = _first_child(p, (dep,))
            if x is not None:
                return x
        return None
    if c.frame == "clause":
        return p
    target = c.nodes.get("target")
    clauses = [x for x in _children(p, ("ccomp", "xcomp")) if x.pos_ in ("VERB", "AUX", "ADJ", "NOUN")]
    if clauses:
        after = [x for x in clauses if x.i > p.i]
        return after[0] if after else clauses[-1]
    for x in _children(p, ("advcl",)):
        if any(m.dep_ == "mark" and m.lower_ == "for" for m in x.children):
            return x  # "called for the alliance to withdraw"
    addressee = None
    for x in _children(p, _OBJECTS | {"attr"}):
        if x == target or x.dep_ == "dative":
            continue
        if addressee is None and (x.pos_ in ("PROPN", "PRON") or x.ent_type_) and actor_of(x) is not None:
            addressee = x  # "warned Japan against ...": the object is whom it is said to
            continue
        return x
    for prep in _children(p, ("prep",)):
        if prep.lower_ in ("for", "of", "on", "against", "to", "about", "with"):
            obj = _first_child(prep, ("pobj", "pcomp"))
            if obj is not None and obj != target:
                return obj
    for x in _children(p, ("advcl", "xcomp", "relcl", "acl")):
        if any(a.dep_ == "aux" and a.lower_ == "to" for a in x.children) and x.i > p.i:
            return x  # "appealed to Serbia to end the blockade"
    for prep in _children(p, ("prep",)):
        for x in _children(prep, ("pobj",)):
            for y in _children(x, ("acl", "relcl", "xcomp")):
                if any(a.dep_ == "aux" and a.lower_ == "to" for a in y.children):
                    return y
    if addressee is not None:
        return addressee
    subj = _first_child(p, _PASSIVE_SUBJECTS)
    if subj is not None and c.type in (EventType.REJECT, EventType.DENY):
        return subj  # "the demand was rejected"
    if p.dep_ in ("relcl", "ccomp", "acl") and p.head.pos_ in ("NOUN", "PROPN"):
        return p.head  # "a demand NATO has rejected"
    return None


def _split(head: Token) -> list[Token]:
    """Coordinated demands are separate events: the head and its verb (or full-NP) conjuncts."""
    heads = [head]
    frontier = [head]
    while frontier:
        h = frontier.pop()
        for x in h.children:
            if x.dep_ not in _SPLIT_DEPS:
                continue
            if h.pos_ in ("VERB", "AUX") and x.pos_ in ("VERB", "AUX"):
                if x.i in _alternatives(h):
                    continue
                heads.append(x)
                frontier.append(x)
    return sorted(heads, key=lambda t: t.i)


# ---------------------------------------------------------------------------------------------
# actors


class Resolver:
    """Resolve tokens to actors, using the actors named earlier in the document."""

    def __init__(self, doc: Doc, actor_of: ActorOf, words: RoleWords) -> None:
        self.doc = doc
        self.actor_of = actor_of
        self.words = words
        index = doc._.actor_index if Doc.has_extension("actor_index") else None
        self.index: ActorIndex | None = index if isinstance(index, ActorIndex) else None
        self.last_source: Actor | None = None
        self.last_demander: Actor | None = None
        dateline = getattr(doc._, "dateline", None) if Doc.has_extension("dateline") else None
        self.dateline: Actor | None = dateline if isinstance(dateline, Actor) else None
        first = next((t.i for t in doc if not t.is_space), 0)
        self.dateline_start = first if self.dateline is not None else -1

    def names_actor(self, token: Token) -> bool:
        """Whether `token` lies inside an actor mention (not just a noun an actor modifies)."""
        return self.index is not None and self.index.at(token.i) is not None

    def preceding(self, token: Token, person: bool | None, exclude: set[str | None]) -> Actor | None:
        """The nearest actor named before `token` (a person or not), skipping `exclude` codes."""
        index = self.index
        if index is None:
            return None
        for k in range(bisect_left(index.starts, token.i) - 1, -1, -1):
            span = index.spans[k]
            if span.sent.start != token.sent.start and span.start < token.sent.start - 400:
                break
            actor = index.actor(k)
            if actor is None or actor.code in exclude and actor.code is not None:
                continue
            if span.start == self.dateline_start:
                continue  # "MOSCOW —" places the story; it says nothing
            if person is None or (actor.type == "person") == person:
                return actor
        return None

    def preceding_group(self, token: Token, exclude: set[str | None]) -> Actor | None:
        """The nearest group named before `token`, for "they": actors joined by "and" ("Mali and
        Burkina Faso ... They refused"; the first of them) or a plural name, in this sentence or
        the one before; None when there is none (a single state is rarely "they")."""
        index = self.index
        if index is None:
            return None
        sent = token.sent
        earliest = sent.start if sent.start == 0 else self.doc[sent.start - 1].sent.start
        for k in range(bisect_left(index.starts, token.i) - 1, -1, -1):
            span = index.spans[k]
            if span.start < earliest:
                break
            root = span.root
            if root.dep_ == "conj":
                while root.dep_ == "conj" and root.head != root:
                    root = root.head
                k2 = index.at(root.i)
                actor = index.actor(k2) if k2 is not None else None
            elif any(c.dep_ == "conj" for c in root.children) or root.tag_ in ("NNS", "NNPS"):
                actor = index.actor(k)
            elif k > 0 and _joined_by_and(self.doc, index.spans[k - 1], span):
                actor = index.actor(k - 1)  # "of Mali and Burkina Faso", however it is parsed
            else:
                continue
            if actor is not None and actor.code is not None and actor.code not in exclude \
                    and span.start != self.dateline_start:
                return actor
        return None

    def state_of(self, token: Token, speaker: Actor | None, exclude: set[str | None]) -> Actor | None:
        """The state "the country" stands for: the speaker's, else the last state named before."""
        index = self.index
        if index is None:
            return None
        if speaker is not None and speaker.code is not None and speaker.code not in exclude:
            state = index.by_code.get(speaker.code)
            if state is not None and state.type == "state":
                return state
        for k in range(bisect_left(index.starts, token.i) - 1, -1, -1):
            span = index.spans[k]
            if span.start < token.sent.start - 400:
                break
            actor = index.actor(k)
            if actor is not None and actor.type == "state" and actor.code not in exclude \
                    and span.start != self.dateline_start:
                return actor
        return None

    def earlier_issuer(self, noun: Token, exclude: set[str | None]) -> Actor | None:
        """Who issued the demands that `noun` ("the list", "the demands") refers back to: the issuer
        of the last such noun in the sentences before, or the subject of the verb it is the object
        of ("Riyadh handed Doha a list of demands. ... Doha's reply rejected the list")."""
        doc = self.doc
        start = noun.sent.start
        for t in reversed(doc[max(0, start - 400):start]):
            if t.pos_ != "NOUN" or t.lemma_.lower() not in self.words.demand_nouns | self.words.document_nouns:
                continue
            found = self.issuer(t, exclude, named=True)
            node = t
            while found is None and node.dep_ == "pobj" and node.head.lower_ == "of" and node.head.head.pos_ == "NOUN":
                node = node.head.head  # "a list of demands", "a set of conditions"
                found = self.issuer(node, exclude, named=True)
            verb = None
            if node.dep_ in ("dobj", "dative", "nsubjpass") and node.head.pos_ == "VERB":
                verb = node.head  # "handed Doha a list"; "a list was delivered by Riyadh"
            elif node.dep_ == "pobj" and node.head.lower_ == "with" and node.head.head.pos_ == "VERB":
                verb = node.head.head  # "presented Hamas with demands"
            if found is None and verb is not None:
                subj, passive = _subject(verb)
                subj = _agent(verb) if passive else subj
                found = self.resolve(subj, exclude=exclude) if subj is not None and subj.pos_ != "PRON" else None
            if found is not None and found.code is not None and found.code not in exclude:
                return found
        return None

    def resolve(self, token: Token | None, speaker: Actor | None = None,
                exclude: set[str | None] | None = None) -> Actor | None:
        """The actor the noun phrase headed by `token` stands for, or None."""
        if token is None:
            return None
        exclude = exclude or set()
        actor = self.actor_of(token)
        if actor is not None:
            return actor
        low = token.lower_
        if low in _PRONOUNS_SPEAKER:
            return speaker or self.last_source
        if low in _PRONOUNS_PERSON:
            if speaker is not None and speaker.type == "person":
                return speaker
            return self.preceding(token, True, exclude) or self.last_source
        relative = self._relative_antecedent(token, speaker, exclude)
        if relative is not None:
            return relative
        if low in _PRONOUNS_OTHER or token.tag_ == "WDT":
            if speaker is not None and not exclude:
                return speaker
            sibling = self._conjunct_subject(token)
            if sibling is not None:
                return sibling
            found = self.preceding_group(token, exclude) if low in _PRONOUNS_PLURAL else None
            found = found or self.preceding(token, False, exclude)
            return found or (self.last_source if not exclude else None)
        if low in self.words.state_nouns and token.tag_ == "NN" and any(c.lower_ == "the" for c in token.children):
            return self.state_of(token, speaker, exclude)
        # an actor named inside the noun phrase: "Poland's foreign minister", "a Russian official"
        for t in token.subtree:
            if t == token or t.i > token.i and t.dep_ not in ("appos",):
                continue
            inner = self.actor_of(t)
            if inner is not None and t.dep_ in ("poss", "compound", "amod", "nmod", "appos"):
                return Actor(span_text(self.doc, (x.i for x in token.subtree if x.dep_ != "relcl")) or token.text,
                             inner.code, "person" if token.pos_ == "NOUN" else inner.type)
        for prep in _children(token, ("prep",)):
            if prep.lower_ in ("of", "from", "in"):
                obj = _first_child(prep, ("pobj",))
                inner = self.actor_of(obj) if obj is not None else None
                if inner is not None and token.lemma_.lower() in self.words.referring_nouns:
                    return inner
        if token.lemma_.lower() in self.words.document_nouns:
            return (speaker or self.last_demander or self._handed_over(token, exclude) or self.last_source
                    or self.preceding(token, False, exclude))
        if token.lemma_.lower() in self.words.referring_nouns:
            if speaker is None and token.tag_ == "NNS" and self.last_source is not None \
                    and self.last_source.type == "person":
                return self._summit(token, exclude) or self.last_source  # "the leaders" are no one person
            return speaker or self.last_source or self._summit(token, exclude) or self.dateline
        if token.lemma_.lower() in self.words.collective_nouns and not exclude:
            # "the bloc further wants ...", "the four states": no organisation of that name
            # in the text, so the side that has been demanding
            return speaker or self.last_demander
        return None

    def _handed_over(self, token: Token, exclude: set[str | None]) -> Actor | None:
        """Who produced the document an earlier sentence names ("X handed Y a list of demands.
        The list requires ..."): the subject of the verb whose object it was."""
        sent = token.sent
        start = self.doc[sent.start - 1].sent.start if sent.start > 0 else sent.start
        for t in reversed(self.doc[start:token.i]):
            if t.lemma_ != token.lemma_ or t.dep_ not in ("dobj", "pobj", "dative"):
                continue
            verb = t.head.head if t.dep_ == "pobj" else t.head
            subj, _ = _subject(verb) if verb.pos_ in ("VERB", "AUX") else (None, False)
            appos = _first_child(subj, ("appos",)) if subj is not None and subj.i == 0 else None
            if appos is not None:
                subj = appos  # "DUBAI — Saudi Arabia ... handed": a dateline parsed as the subject
            found = self.actor_of(subj) if subj is not None else None
            if found is not None and found.code is not None and found.code not in exclude:
                return found
        return None

    def _summit(self, token: Token, exclude: set[str | None]) -> Actor | None:
        """The organisation "the leaders" met in: a plural referring noun with no modifier after a
        bloc was named ("ABUJA - ECOWAS met ... the leaders directed ..."), not the host city."""
        if token.tag_ != "NNS" or any(c.dep_ != "det" for c in token.children if c.i < token.i):
            return None
        index = self.index
        if index is None:
            return None
        for k in range(bisect_left(index.starts, token.i) - 1, -1, -1):
            if index.spans[k].start < token.sent.start - 200:
                break
            found = index.actor(k)
            if found is not None and found.type == "organisation" and found.code is not None \
                    and found.code not in exclude:
                return found
        return None

    def _relative_antecedent(self, token: Token, speaker: Actor | None,
                             exclude: set[str | None]) -> Actor | None:
        """The actor a relative pronoun stands for: "Orban, who had demanded ..." -> Orban."""
        verb = token.head
        if token.tag_ not in ("WP", "WDT") or verb.dep_ != "relcl" or verb.head == verb:
            return None
        found = self.actor_of(verb.head)  # a document ("a plan that ...") is left to the pronoun rules
        return found if found is not None and found.code not in exclude else None

    def _conjunct_subject(self, token: Token) -> Actor | None:
        """The subject of the clause a pronoun subject's clause is joined to: "the ministry said
        ..., and it urged Manila" -> the ministry (not the last organisation named before "it")."""
        verb = token.head
        if token.dep_ not in _SUBJECTS or verb.dep_ != "conj" or verb.head == verb:
            return None
        subj, _ = _subject(verb.head)
        if subj is None or subj.lower_ in _PRONOUNS_OTHER | _PRONOUNS_PERSON | _PRONOUNS_SPEAKER:
            return None
        found = self.actor_of(subj)
        return found if found is not None and found.code is not None else None

    def issuer(self, noun: Token | None, exclude: set[str | None], named: bool = False) -> Actor | None:
        """Who issued the demand, proposal or call `noun` ("North Korea's demand", "calls by X");
        `named`: only an actor named there, not a pronoun ("its terms")."""
        if noun is None:
            return None
        for t in noun.subtree:
            if t == noun or named and t.pos_ == "PRON":
                continue
            if t.dep_ in ("poss", "compound", "amod", "nmod") and t.head == noun:
                a = self.resolve(t, exclude=exclude)
                if a is not None and a.code not in exclude:
                    return a
            by_acl = t.head.dep_ == "agent" and t.head.head.dep_ == "acl" and t.head.head.head == noun
            if t.dep_ == "pobj" and (t.head.lower_ in ("by", "from") and t.head.head == noun or by_acl):
                a = self.resolve(t, exclude=exclude)
                if a is not None and a.code not in exclude:
                    return a
        return None

    def first_in(self, ids: Iterable[int], exclude: set[str | None], skip: Token | None = None,
                 strict: bool = False) -> Actor | None:
        """The first coded actor among tokens `ids`.

        An actor of an excluded code (the source's own side) still counts unless it is a
        subject: "a curfew in Algiers", "Serbian authorities", but not "Russia would take ...".
        """
        index = self.index
        if index is None:
            return None
        for k in sorted(k for i in set(ids) for k in index.by_start.get(i, ())):
            span = index.spans[k]
            if skip is None or not span.start <= skip.i < span.end:
                actor = index.actor(k)
                if actor is None or actor.code is None:
                    continue
                if actor.code not in exclude or not strict and span.root.dep_ not in _SUBJECTS | _PASSIVE_SUBJECTS:
                    return actor
        return None


# ---------------------------------------------------------------------------------------------
# the main pass


def _speech_of(c: Candidate, ordered: list[Candidate]) -> Candidate | None:
    """The nearest enclosing candidate whose content holds `c`'s trigger."""
    best: Candidate | None = None
    for o in ordered:
        if o is c or o.dropped or o.content_head is None:
            continue
        if c.trigger.i in o.scope and o.trigger.i not in c.scope:
            if best is None or len(o.scope) < len(best.scope):
                best = o
    return best


def _depth(token: Token) -> int:
    return sum(1 for _ in token.ancestors)


def resolve_candidates(doc: Doc, candidates: list[Candidate], actor_of: ActorOf, words: RoleWords) -> list[Event]:
    """Fill in roles, drop nested and unattributed candidates, and return the events.

    `actor_of` codes a token; the actor mentions themselves are read from `doc._.actor_index`.
    """
    resolver = Resolver(doc, actor_of, words)
    for c in candidates:
        head = _content_head(c, actor_of)
        c.content_head = head
        if head is not None:
            c.scope = frozenset(t.i for t in head.subtree)
            c.content_tokens = frozenset(_clause_tokens(head, set())) - {c.trigger.i}
        elif c.frame == "clause":
            c.content_tokens = frozenset(_clause_tokens(c.predicate, set()))
    for c in candidates:
        if is_excluded(c, words):
            c.dropped = True
    events: list[Event] = []
    for sent in doc.sents:
        here = [c for c in candidates if sent.start <= c.trigger.i < sent.end and not c.dropped]
        here.sort(key=lambda c: (_depth(c.predicate), c.trigger.i))
        for c in here:
            _assign_roles(c, here, resolver)
            if _asks_own_body(c, resolver):
                c.dropped = True
            if c.source is not None and c.source.code is not None and not c.dropped:
                resolver.last_source = c.source
                if c.type in (EventType.DEMAND, EventType.PROPOSE):
                    resolver.last_demander = c.source
        kept = _drop_nested(here)
        seen: set[tuple[EventType, str | None]] = set()
        for c in sorted(kept, key=lambda c: c.trigger.i):
            found = _to_events(doc, c, sent, resolver, {x.trigger.i for x in candidates})
            if c.type in (EventType.REJECT, EventType.THREATEN):
                # one rejection or threat per speaker and sentence: "rejected the plan and said
                # they also opposed ..." restates it
                key = (c.type, c.source.code if c.source else None)
                if key in seen:
                    continue
                seen.add(key)
                found = found[:1]
            events.extend(found)
    return events


def _assign_roles(c: Candidate, here: list[Candidate], r: Resolver) -> None:
    p = c.predicate
    outer = _speech_of(c, here)
    speaker = outer.source if outer is not None else None
    # source
    if "source" in c.nodes:
        c.source_token = c.nodes["source"]
        c.source = r.resolve(c.source_token, speaker)
    elif c.frame == "clause":
        if c.trigger.pos_ == "VERB" and c.type is EventType.DEMAND:
            # "Serbia has to hand over ...", "Caracas has until Friday to ...": who is obliged is
            # the addressee; the demand is whoever says so
            c.target_token, _ = _subject(p)
            if c.target_token is not None and c.target_token.lower_ in _PRONOUNS_SPEAKER:
                c.dropped = True  # "we have until Friday to file": a deadline of one's own
                return
        elif c.trigger.pos_ == "VERB":
            # "they would boycott", "the EC may halt ..., the minister said": whoever would act
            subj, _ = _subject(p)
            c.source_token = subj
            c.source = r.resolve(subj, speaker) if subj is not None else None
        if c.source is None and outer is not None and outer.source is not None:
            c.source = outer.source
        frame = _under_document(p, r.words) if c.source is None and c.type is EventType.DEMAND else None
        if frame is not None:
            c.source = r.last_demander  # "Under its terms, Qatar must ...": the list's issuer
            c.exclude = c.exclude | {t.i for t in frame.subtree}
            c.content_tokens = c.content_tokens - c.exclude
        if c.source is None:
            c.source = _alternative_speaker(c, here, r)
        if c.source is None:
            c.dropped = True
            return
    else:
        subj, passive = _subject(p)
        if passive and c.frame == "verb" and subj is not None:
            c.target_token = subj  # "Kyiv was urged ...": the subject is the addressee
            subj = None
        if subj is None:
            subj = _agent(p)
        c.source_token = subj
        c.source = r.resolve(subj, speaker) if subj is not None else None
        if c.source is None and c.trigger.dep_ in ("acl", "relcl") and c.trigger.tag_ == "VBG":
            c.source = r.preceding(c.trigger, None, set())
        if c.source is None and subj is None and outer is not None:
            c.source = outer.source
        if c.source is None:
            c.source = _fallback_source(c, passive, r, speaker)
    src_code = c.source.code if c.source else None
    exclude: set[str | None] = {src_code} if src_code else set()
    exclude |= _side_codes(c.source_token or (outer.source_token if outer is not None else None), r)
    # target
    target_tok = c.nodes.get("target") or c.target_token
    head = c.content_head
    if target_tok is None and c.frame == "verb" and c.type is EventType.DEMAND:
        named = {t.i for name, t in c.nodes.items() if name not in ("addressee", "target")}
        objects = [x for x in _children(p, ("dobj",)) if x != head and x.pos_ in ("NOUN", "PROPN")
                   and head is not None and x.i < head.i and x.i not in named]
        if objects and head is not None and head.pos_ in ("VERB", "AUX") and r.resolve(objects[0]) is None \
                and not _members(objects[0]) and _ruling_in(objects[0], r) is None:
            c.unknown_addressee = True  # "urged its citizens to ...": not an actor we can code
    if target_tok is None and c.frame in ("verb", "noun"):
        for x in _children(p, _OBJECTS):
            if x != head and (r.actor_of(x) is not None or _ruling_in(x, r) is not None) \
                    or x.lower_ in _PRONOUNS_PERSON | _PRONOUNS_OTHER:
                if x != head:
                    target_tok = x
                    break
        if target_tok is None:
            for prep in _children(p, ("prep", "dative")) + _children(c.trigger, ("prep",)):
                if prep.lower_ in ("on", "to", "against", "from", "with") and prep.head != head:
                    obj = _first_child(prep, ("pobj",))
                    if obj is not None and r.actor_of(obj) is not None:
                        target_tok = obj
                        break
    self_acts = False  # the threatener itself is the one who would act: no target of its own side
    undergoer = _passive_undergoer(c, head) if target_tok is None else frozenset()
    if undergoer and head is not None:
        target_tok = _agent(head)  # "demanded that the bid be taken off the agenda (by X)"
    elif target_tok is None and head is not None and head.pos_ in ("VERB", "AUX", "ADJ"):
        subj = _first_child(head, _SUBJECTS | _PASSIVE_SUBJECTS)
        if subj is not None and c.type is not EventType.REJECT and not _threatener_itself(c, subj, r.words):
            target_tok = subj
    if target_tok is None and head is not None and c.type is EventType.DEMAND and head.pos_ in ("NOUN", "PROPN"):
        if r.actor_of(head) is not None:
            target_tok = head
    if target_tok is not None:
        c.target = r.resolve(target_tok, None, exclude) or _ruling_in(target_tok, r)
        if c.target is not None and target_tok.dep_ in _SUBJECTS | _PASSIVE_SUBJECTS and src_code is not None \
                and c.target.code == src_code and c.target.type == "state" and r.names_actor(target_tok):
            c.target = None  # "Russia would take measures": the speaker's own side is no target
            self_acts = True
        if c.target is not None:
            c.target_token = target_tok
        if c.target is not None and c.target == c.source:
            c.target = None
    if c.target is None and c.type is EventType.REJECT:
        c.target = _condition_subject(c, r, exclude, _CONDITION_MARKS | {"until"})
    if c.target is None and c.type is EventType.REJECT:
        thing = head if head is not None and head.pos_ in ("NOUN", "PROPN") else None
        if thing is None and head is not None:
            # "some of the proposals were unacceptable": what is rejected is the subject
            subj = _first_child(head, _SUBJECTS | _PASSIVE_SUBJECTS)
            of = [t for t in subj.subtree if t.dep_ == "pobj" and t.head.lower_ == "of"] if subj is not None else []
            thing = of[0] if of else subj
        c.target = r.issuer(thing, exclude)
        if c.target is None and thing is not None and thing.lemma_.lower() in r.words.demand_nouns | r.words.document_nouns:
            c.target = r.earlier_issuer(thing, exclude)
        if c.target is None and thing is not None and thing.lemma_.lower() in r.words.demand_nouns:
            last = r.last_demander or r.last_source
            c.target = last if last is not None and last.code not in exclude else None
    if c.target is None and c.type is EventType.THREATEN:
        # "threatened to ban voting if Hamas ran": the threat is aimed at whoever must comply
        c.target = _condition_subject(c, r, exclude, _CONDITION_MARKS) or _alternative_target(c, here, r, exclude)
    if c.target is None and c.type is EventType.REJECT and c.trigger.lemma_ in r.words.reciprocal_failures:
        # "failed to reach a deal with Kyiv": the partner; "Serbia and Kosovo failed to agree":
        # both sides failed, so no target (not the host city or the subject of the talks)
        partners = [t for t in c.trigger.subtree if t.dep_ == "pobj" and t.head.lower_ == "with"]
        c.target = r.first_in({t.i for t in partners}, exclude, c.source_token) if partners else None
    elif c.target is None and c.type is EventType.DEMAND and any(_members(x) for x in _children(p, ("dobj",))):
        pass  # "directed member states to enforce the closures imposed on Niger": no other side asked
    elif c.target is None and c.type in (EventType.DEMAND, EventType.THREATEN, EventType.REJECT) and c.content_tokens:
        ids = (c.content_tokens - undergoer if c.type is EventType.DEMAND
               else _without_victims(c.predicate.doc, c.content_tokens, r.words, c.type is EventType.THREATEN))
        c.target = r.first_in(ids, exclude, c.source_token, strict=self_acts and c.type is EventType.THREATEN)
        if c.target is None and c.frame == "verb":
            # "sought refuge in Germany": an actor elsewhere in the trigger's own clause
            own = {t.i for x in _children(p, ("prep", "dative")) for t in x.subtree}
            c.target = r.first_in(own, exclude, c.source_token, strict=True)


def _under_document(verb: Token, words: RoleWords) -> Token | None:
    """The phrase framing a clause by a document ("under its terms", "according to the list"), or None."""
    for frame in _children(verb, ("prep",)):
        prep = _first_child(frame, ("prep",)) if frame.lower_ == "according" else frame
        if prep is None or prep.lower_ not in ("under", "to"):
            continue
        obj = _first_child(prep, ("pobj",))
        if obj is not None and obj.lemma_.lower() in words.document_nouns | words.list_nouns:
            return frame
    return None


def _passive_undergoer(c: Candidate, head: Token | None) -> frozenset[int]:
    """The subject of a passive demanded clause ("that Ukraine's bid be taken off the agenda"),
    as token positions: what is acted on, not whom the demand is made of."""
    if c.type is not EventType.DEMAND or head is None or head.pos_ not in ("VERB", "AUX"):
        return frozenset()
    subj = _first_child(head, _PASSIVE_SUBJECTS)
    return frozenset(t.i for t in subj.subtree) if subj is not None else frozenset()


def _ruling_in(token: Token, r: Resolver) -> Actor | None:
    """The state a group is said to rule by its relative clause: "the soldiers who seized power
    in Niger", "the officers who took control of Mali" (the junta, not the place's neighbours)."""
    for rel in _children(token, ("relcl",)):
        if not any(t.lemma_.lower() in ("power", "control") for t in rel.children if t.dep_ == "dobj"):
            continue
        found = r.first_in((t.i for t in rel.subtree), set())
        if found is not None and found.type == "state":
            return found
    return None


def _members(token: Token) -> bool:
    """Whether a noun phrase is the members of a bloc ("directed member states to ..."): states
    the text does not name one by one, no unknown addressee."""
    return token.lemma_.lower() == "member" or any(
        c.lemma_.lower() == "member" and c.dep_ in ("compound", "amod") for c in token.children)


def _fallback_source(c: Candidate, passive: bool, r: Resolver, speaker: Actor | None) -> Actor | None:
    """The source of a verb demand whose subject names no actor.

    - a conjunct misattached to a reported clause ("the United States said the use of force was
      dangerous and called on Beijing to ..."): the subject of the speech verb;
    - an agentless passive ("Doha is also required to sever ...", "Kyiv has been asked to ..."):
      whoever reports it, else the side that made the last demand, when the one asked is an actor.
    """
    p = c.predicate
    if p.dep_ == "conj" and p.head.dep_ == "ccomp" and not _children(p, _SUBJECTS | _PASSIVE_SUBJECTS):
        subj, _ = _subject(p.head.head)
        found = r.resolve(subj, speaker) if subj is not None else None
        if found is not None:
            return found
    if passive and c.type is EventType.DEMAND and _agent(p) is None and c.target_token is not None:
        asked = r.resolve(c.target_token)
        last = speaker or r.last_demander
        if asked is not None and asked.code is not None and last is not None and last.code != asked.code:
            return last
    return None


def _asks_own_body(c: Candidate, r: Resolver) -> bool:
    """Whether a demand is addressed to the source's own institutions ("Orban would urge
    parliament to approve it", "the president asked his government to ..."): no other side."""
    tok = c.nodes.get("target") or c.nodes.get("addressee") or c.target_token
    if tok is None:
        tok = _first_child(c.predicate, ("dobj",))
    if c.type is not EventType.DEMAND or tok is None or c.source is None:
        return False
    if tok.lemma_.lower() not in r.words.home_bodies:
        return False
    if any(t.lower_ in _PRONOUNS_PERSON | _PRONOUNS_SPEAKER | {"its", "their"} for t in tok.children):
        return True  # "his government", "its parliament"
    # a leader's own parliament, unless another state's is named ("urged Sweden's parliament");
    # the dateline's state says nothing here; an opposition's demand of the government stays
    other = [r.actor_of(t) for t in tok.children if t.dep_ in ("poss", "compound", "amod", "nmod")]
    owner = next((a for a in other if a is not None), None)
    said_by = c.source_token
    leader = c.source.type == "person" and said_by is not None and (
        r.names_actor(said_by) or said_by.lower_ in _PRONOUNS_PERSON
        or any(t.lower_ in _PRONOUNS_PERSON and t.dep_ == "poss" for t in said_by.children))  # "his government"
    return leader and (owner is None or owner.code == c.source.code)


def _condition_subject(c: Candidate, r: Resolver, exclude: set[str | None], marks: frozenset[str]) -> Actor | None:
    """The actor that must meet the condition of a threat or refusal: the subject of an "if",
    "unless" (or "until") clause of the trigger ("will not ratify it unless Kyiv restores ...")."""
    near = set(c.scope or c.content_tokens) | {x.i for x in c.predicate.children}
    for x in (c.predicate.doc[i] for i in sorted(near)):
        if x.dep_ == "advcl" and any(m.dep_ == "mark" and m.lower_ in marks for m in x.children):
            subj = _first_child(x, _SUBJECTS)
            who = r.actor_of(subj) if subj is not None else None
            if who is not None and who.code is not None and who.code not in exclude:
                return who
    return None


def _alternative_target(c: Candidate, here: list[Candidate], r: Resolver, exclude: set[str | None]) -> Actor | None:
    """Whom an alternative threatens: "Qatar should take the list seriously, 'or a divorce will
    happen'" is aimed at the actor named in the clause the "or" joins it to."""
    p = c.predicate
    head = p.head
    if p.dep_ != "conj" or not any(x.dep_ == "cc" and x.lower_ == "or" for x in head.children):
        return None
    base = next((o.content_head for o in here if o.trigger == head and o.type is EventType.STATEMENT
                 and o.content_head is not None), head)
    own = {t.i for t in p.subtree}
    ids = [t.i for t in base.subtree if t.i not in own]
    return r.first_in(ids, exclude, c.source_token, strict=True)


def _side_codes(token: Token | None, r: Resolver) -> set[str | None]:
    """Codes of the actors joined with the source by "and" ("Sudan and Libya said ..."): its own side."""
    if token is None:
        return set()
    head = token
    while head.dep_ == "conj" and head.head != head:
        head = head.head
    out: set[str | None] = set()
    for t in head.subtree:
        if t == head or t.dep_ == "conj" and t.head.i in {x.i for x in head.subtree}:
            actor = r.actor_of(t)
            if actor is not None and actor.code is not None:
                out.add(actor.code)
    return out


def _threatener_itself(c: Candidate, subj: Token, words: RoleWords) -> bool:
    """Whether the subject of a threatened act names no one threatened: a pronoun for the
    threatener ("said they would treat an attack as an act of war") or a hostile act ("any
    intervention in Libya would be considered a declaration of war": Libya is its victim)."""
    return c.type is EventType.THREATEN and (
        subj.lower_ in _PRONOUNS_OTHER | _PRONOUNS_SPEAKER or subj.lemma_.lower() in words.hostile_acts)


def _provoking_act(noun: Token) -> bool:
    """Whether a hostile act is what would provoke a threat, not the act threatened: "any attack
    on its nationals", "any intervention in Libya would be ...", "respond to an attack on X",
    "treat an attack on Chad as an act of war" (its victim is not whom the threat is aimed at)."""
    if any(c.dep_ == "det" and c.lower_ == "any" for c in noun.children) or noun.dep_ in _SUBJECTS | _PASSIVE_SUBJECTS:
        return True
    if noun.dep_ == "pobj" and noun.head.lower_ == "to":
        return True
    return noun.dep_ == "dobj" and any(c.dep_ == "prep" and c.lower_ == "as" for c in noun.head.children)


def _without_victims(doc: Doc, ids: frozenset[int], words: RoleWords, threat: bool) -> frozenset[int]:
    """Tokens `ids` without the victims of hostile acts ("an attack on Chad", "sanctions against
    the people of Niger"): those suffer the act; they are not whom the threat or refusal is aimed at,
    unless the act is being undone ("refused to lift the sanctions on Burma" is aimed at Burma); in a
    threat, only the victims of the act that would provoke it (`_provoking_act`) are left out."""
    out = set(ids)
    for i in ids:
        t = doc[i]
        prep = t.head
        if t.dep_ == "pobj" and prep.lower_ in _VICTIM_PREPS and prep.head.lemma_.lower() in words.hostile_acts:
            if threat and not _provoking_act(prep.head):
                continue  # "threatened further action against Russia": aimed at Russia
            if prep.head.head.lemma_.lower() not in words.undoing_verbs:  # "lifting the sanctions on Burma"
                out -= {x.i for x in t.subtree}
    return frozenset(out)


def _alternative_speaker(c: Candidate, here: list[Candidate], r: Resolver) -> Actor | None:
    """Who threatens in a clause joined to another: "X said ..., 'or war will follow'" (the speaker
    of the clause it is joined to), "gave them a week to hand back power or risk an intervention"
    (whoever set the demand the alternative belongs to)."""
    p = c.predicate
    if p.dep_ != "conj":
        return None
    head = p.head
    for o in here:
        if o is not c and not o.dropped and o.trigger == head and o.source is not None:
            return o.source
    if not any(x.dep_ == "cc" and x.lower_ == "or" for x in head.children) or head.dep_ not in ("advcl", "xcomp", "ccomp"):
        return None
    gov = head.head
    for o in here:
        if o is not c and not o.dropped and o.trigger == gov and o.source is not None:
            return o.source
    subj, passive = _subject(gov)
    return r.resolve(subj) if subj is not None and not passive else None


def _drop_nested(here: list[Candidate]) -> list[Candidate]:
    live = [c for c in here if not c.dropped]
    kept: list[Candidate] = []
    for c in live:
        if c.frame == "verb" and c.trigger.dep_ == "conj" and not _children(c.trigger, _SUBJECTS | _PASSIVE_SUBJECTS):
            # "The documents call for a ban ... and demand a rollback": a misattached conjunct
            same = [o for o in live if o is not c and c.trigger.i in o.content_tokens
                    and o.type is c.type and o.frame == "verb"]
            if same:
                o = same[0]
                c.source = o.source
                o.exclude = o.exclude | {t.i for t in c.trigger.subtree}
                o.content_tokens = o.content_tokens - o.exclude
                kept.append(c)
                continue
        inner = [o for o in live if o is not c and o.trigger.i in (c.content_tokens | c.scope)]
        outer = [o for o in live if o is not c and c.trigger.i in o.content_tokens
                 and o.type is not EventType.STATEMENT]
        if c.type is EventType.STATEMENT and inner:
            continue  # "X said Y must ...": the demand says more than the statement
        if outer:
            continue  # a demanded, rejected or threatened act is not itself an event
        kept.append(c)
    # one event per trigger token
    seen: dict[int, Candidate] = {}
    for c in kept:
        prev = seen.get(c.trigger.i)
        if prev is None or len(c.nodes) > len(prev.nodes):
            seen[c.trigger.i] = c
    return list(seen.values())


def _refers(c: Candidate) -> bool:
    tok = c.source_token
    return tok is None or tok.lower_ in _PRONOUNS_SPEAKER | _PRONOUNS_PERSON | _PRONOUNS_OTHER


def _to_events(doc: Doc, c: Candidate, sent: Span, r: Resolver, triggers: set[int]) -> list[Event]:
    graded = c.type in (EventType.DEMAND, EventType.REJECT, EventType.THREATEN)
    if graded and (c.source is None or c.source.code is None and c.source.type != "organisation"):
        return []  # who demands is unknown: no event worth a false alarm
    if graded and c.unknown_addressee:
        return []
    head = c.content_head
    drop: set[int] = ({c.trigger.i} if c.frame != "clause" else set()) | set(c.exclude)
    if c.target_token is not None and head is not None and c.target_token.head == head:
        drop.add(c.target_token.i)
    heads = _split(head) if head is not None and c.type is not EventType.REJECT else ([head] if head else [])
    out: list[Event] = []
    if not heads:
        ids: set[int] = set(c.content_tokens) if c.frame == "clause" else set()
        parts: list[tuple[set[int], Token | None]] = [(ids, None)]
    else:
        parts = []
        for one in heads:
            others = {x.i for x in heads if x != one and _in_subtree(x, one)}
            extra = {t.i for t in one.children if t.dep_ == "cc"}
            parts.append((_clause_tokens(one, drop | others | extra) - drop, one))
    if c.frame == "verb" and parts and head is not None and head.dep_ in ("xcomp", "ccomp"):
        for x in c.trigger.children:
            if x.dep_ == "conj" and x.pos_ == "VERB" and x.i > head.i and not _children(x, _SUBJECTS) \
                    and x.i not in triggers:
                parts[-1] = (set(parts[-1][0]) | {t.i for t in x.subtree}, parts[-1][1])
    for ids, h in parts:
        target = c.target
        if h is not None and h != head and h.pos_ in ("VERB", "AUX"):
            subj = _first_child(h, _SUBJECTS)
            if subj is not None and subj.i in ids:
                own: set[str | None] = {c.source.code} if c.source and c.source.code else set()
                t2 = r.resolve(subj, None, own)
                if t2 is not None:
                    target = t2
                    ids = ids - {x.i for x in subj.subtree}
        if h is not None and h.pos_ in ("VERB", "AUX") and c.target_token is not None and c.target_token.head == h:
            ids = ids - {x.i for x in c.target_token.subtree}
        if "period" in c.nodes and h is head:
            ids = set(ids) | {t.i for t in c.nodes["period"].subtree}  # "10 days to comply"
        ordered = _trim(doc, {i for i in ids if sent.start <= i < sent.end})
        if _names_only(doc, ordered, r):
            ordered = []  # "on Friday", "Serbia and Kosovo": a date or names say nothing wanted
        content = span_text(doc, ordered)
        if graded and not content and c.type is EventType.DEMAND:
            continue
        sentence = sent.text.rstrip()  # a sentence that ends its paragraph holds the line break
        for one_target in _coordinated(c, target, r):
            out.append(Event(
                type=c.type, source=c.source, target=one_target, content=content,
                sentence=sentence, start=sent.start_char, end=sent.start_char + len(sentence),
                trigger=c.trigger.text,
            ))
    return out


def _names_only(doc: Doc, ids: Sequence[int], r: Resolver) -> bool:
    """Whether tokens `ids` are only a date or only names of actors (and the words joining them)."""
    words = [doc[i] for i in ids if not doc[i].is_punct]
    if not words:
        return False
    for t in words:
        if t.pos_ in ("CCONJ", "DET", "ADP", "PART") or t.like_num:
            continue
        if t.ent_type_ in ("DATE", "TIME") or t.lower_ in r.words.date_words:
            continue
        if t.pos_ == "PROPN" and (r.names_actor(t) or r.actor_of(t) is not None):
            continue
        return False
    return True


def _coordinated(c: Candidate, target: Actor | None, r: Resolver) -> list[Actor | None]:
    """The targets of one event: the target and the actors coordinated with it ("called on
    Serbia and Kosovo to ...": one demand of each, as each is asked to act)."""
    tok = c.target_token
    if target is None or tok is None or target is not c.target:
        return [target]
    # only the addressees of the trigger itself ("urged X and Y", "called on X and Y"); the
    # subject of a demanded clause ("that X and Y stop ...") stays one demand
    addressed = tok.head == c.predicate or tok.head.dep_ in ("prep", "dative") and tok.head.head == c.predicate
    if not addressed or c.frame != "verb":
        return [target]
    targets: list[Actor | None] = [target]
    seen = {target.code or target.name}
    for t in tok.subtree:
        if t.dep_ != "conj" or t.head.i not in {x.i for x in tok.subtree}:
            continue
        other = r.actor_of(t)
        if other is None or other.code is None or other.code in seen:
            continue
        if c.source is not None and other.code == c.source.code:
            continue
        seen.add(other.code)
        targets.append(other)
    return targets
