"""Generate distinct, realistic news articles for the benchmarks (deterministic for a seed).

Every article is built from its own random stream (`seed` and its index), so article `i` is
the same whatever `n` is and any slice can be produced without the ones before it. Each
article mixes attributed demands, rejections, threats and proposals between varied actors
with background sentences full of places, numbers and days, so two articles share no more
than the stock phrases of news style: nothing is a duplicate unless asked for
(`duplicate_every`).

Besides the text, each article comes with the `Extraction` the generator knows it wrote
(actors and events with their sentence offsets): the store benchmark uses these to fill a
database without running spaCy.

    python benchmarks/generate.py OUT_DIR N [--seed S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from newswatch.pipeline.records import Actor, Article, Event, EventType, Extraction

# (name, code, type, adjective); people act for the state or organisation of their code.
STATES = [
    ("Russia", "RUS", "Russian"), ("Ukraine", "UKR", "Ukrainian"), ("the United States", "USA", "U.S."),
    ("China", "CHN", "Chinese"), ("Turkey", "TUR", "Turkish"), ("Sweden", "SWE", "Swedish"),
    ("Finland", "FIN", "Finnish"), ("Germany", "DEU", "German"), ("France", "FRA", "French"),
    ("Poland", "POL", "Polish"), ("Iran", "IRN", "Iranian"), ("Israel", "ISR", "Israeli"),
    ("Japan", "JPN", "Japanese"), ("India", "IND", "Indian"), ("Hungary", "HUN", "Hungarian"),
    ("Georgia", "GEO", "Georgian"), ("Moldova", "MDA", "Moldovan"), ("Serbia", "SRB", "Serbian"),
    ("Taiwan", "TWN", "Taiwanese"), ("Britain", "GBR", "British"), ("Belarus", "BLR", "Belarusian"),
    ("Lithuania", "LTU", "Lithuanian"), ("Estonia", "EST", "Estonian"), ("Romania", "ROU", "Romanian"),
    ("Egypt", "EGY", "Egyptian"), ("Brazil", "BRA", "Brazilian"), ("South Korea", "KOR", "South Korean"),
    ("Pakistan", "PAK", "Pakistani"), ("Armenia", "ARM", "Armenian"), ("Azerbaijan", "AZE", "Azerbaijani"),
]
ORGANISATIONS = [
    ("NATO", "NATO"), ("the European Union", "EU"), ("the United Nations", "UN"),
    ("the OSCE", "OSCE"), ("the West", "WST"),
]
CAPITALS = {
    "RUS": "Moscow", "UKR": "Kyiv", "USA": "Washington", "CHN": "Beijing", "TUR": "Ankara",
    "SWE": "Stockholm", "FIN": "Helsinki", "DEU": "Berlin", "FRA": "Paris", "POL": "Warsaw",
    "IRN": "Tehran", "ISR": "Jerusalem", "JPN": "Tokyo", "IND": "New Delhi", "HUN": "Budapest",
    "GEO": "Tbilisi", "MDA": "Chisinau", "SRB": "Belgrade", "TWN": "Taipei", "GBR": "London",
    "BLR": "Minsk", "LTU": "Vilnius", "EST": "Tallinn", "ROU": "Bucharest", "EGY": "Cairo",
    "BRA": "Brasilia", "KOR": "Seoul", "PAK": "Islamabad", "ARM": "Yerevan", "AZE": "Baku",
}
TITLES = [
    "Foreign Minister", "Deputy Foreign Minister", "Defence Minister", "President", "Prime Minister",
    "Foreign Ministry spokesperson", "Interior Minister", "Finance Minister", "national security adviser",
    "ambassador to the United Nations", "chief negotiator", "Trade Minister",
]
FIRST = [
    "Anna", "Sergei", "Maria", "Viktor", "Olena", "James", "Li", "Mehmet", "Ulf", "Sanna", "Olaf",
    "Claire", "Tomasz", "Ali", "Yael", "Hiro", "Priya", "Katalin", "Nino", "Maia", "Ivan", "Laura",
    "Pedro", "Min-jun", "Imran", "Ararat", "Leyla", "Dmitry", "Petra", "Jonas", "Ruth", "Omar",
]
LAST = [
    "Petrov", "Kovalenko", "Miller", "Wang", "Yilmaz", "Lindqvist", "Virtanen", "Schmidt", "Moreau",
    "Nowak", "Rahimi", "Cohen", "Tanaka", "Sharma", "Horvath", "Beridze", "Rusu", "Jovanovic", "Chen",
    "Hughes", "Lukashenko", "Kazlauskas", "Tamm", "Popescu", "Hassan", "Silva", "Kim", "Khan",
    "Sargsyan", "Aliyev", "Orlov", "Becker", "Dubois", "Zielinski", "Novak", "Andersen",
]
REGIONS = [
    "the Black Sea", "the Baltic region", "Central and Eastern Europe", "the Taiwan Strait",
    "the eastern flank", "the Donbas", "the South Caucasus", "the Arctic", "the Sea of Japan",
    "the Persian Gulf", "the Balkans", "the Mediterranean", "the Kashmir frontier", "the Sahel",
]
TOWNS = [
    "Avdiivka", "Narva", "Suwalki", "Batumi", "Tiraspol", "Kherson", "Odesa", "Gyumri", "Shusha",
    "Kaliningrad", "Mariupol", "Kharkiv", "Daugavpils", "Constanta", "Rafah", "Quetta", "Kinmen",
    "Okinawa", "Gotland", "Aland", "Brest", "Grodno", "Zaporizhzhia", "Sevastopol", "Izmir",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
GOODS = ["steel", "grain", "natural gas", "semiconductors", "fertiliser", "crude oil", "rare earths",
         "electric vehicles", "wheat", "aluminium", "pharmaceuticals", "timber"]
PEOPLE = ["journalists", "activists", "soldiers", "sailors", "fishermen", "aid workers",
          "opposition politicians", "students", "border guards", "pilots"]
OUTLETS = ["Associated Press", "Reuters", "Agence France-Presse", "The Baltic Times", "Kyodo News",
           "Deutsche Welle", "Al Jazeera", "BBC News", "Anadolu Agency", "Yonhap"]

# What one actor wants another to do (or stop doing): verb phrases with slots.
ACTIONS = [
    "withdraw {n} troops from {region}", "halt military drills near {town}",
    "deny membership to {state} and other former Soviet countries", "roll back deployments in {region}",
    "release {n} detained {people}", "cut tariffs on {good} by {pct} percent",
    "reopen the border crossing at {town} within {n2} days", "stop arms deliveries to {state}",
    "hand over {n2} suspects accused of the attack in {town}", "lift sanctions on {good} exports",
    "set a timeline for {state}'s accession to NATO", "guarantee safe passage for ships through {region}",
    "pay {n} million dollars in compensation for the damage at {town}",
    "remove {n2} missile batteries from {town}", "allow inspectors into the plant at {town}",
    "extend the ceasefire in {region} by {n2} weeks", "close the military base near {town}",
    "return {n} prisoners of war before {month}", "end its naval patrols in {region}",
    "open talks on {good} quotas by {month}", "recognise the election results in {town}",
    "scrap plans for {n2} new warships", "share intelligence on the strike at {town}",
]
CONSEQUENCES = [
    "cut {good} supplies to {state}", "expel {n2} diplomats", "impose tariffs of {pct} percent on {good}",
    "deploy {n} more troops to {region}", "suspend cooperation on {good}", "close its airspace to {state}",
    "recall its ambassador from {capital}", "freeze {n} million dollars of assets",
]

# What an event sentence reports: (upper bound of the roll, type, what fills {c}, its forms).
# {s} source, {t} target, {c} content clause, {d} day.
EVENT_FORMS: list[tuple[float, EventType, list[str], list[str]]] = [
    (0.45, EventType.DEMAND, ACTIONS, [
        "{s} on {d} demanded that {t} {c}.",
        "{s} urged {t} to {c}, officials said on {d}.",
        "{s} called on {t} to {c}.",
        "In a statement on {d}, {s} insisted that {t} must {c}.",
        "{s} asked {t} to {c} before talks resume.",
    ]),
    (0.7, EventType.REJECT, ACTIONS, [
        "{s} on {d} rejected a demand from {t} to {c}.",
        "{s} refused to {c}, rebuffing {t}.",
        "{s} dismissed calls by {t} to {c} as unacceptable.",
    ]),
    (0.9, EventType.THREATEN, CONSEQUENCES, [
        "{s} warned on {d} that it would {c} if {t} did not change course.",
        "{s} threatened to {c} unless {t} backed down.",
        "{s} said it was ready to {c}, in a warning to {t}.",
    ]),
    (1.0, EventType.PROPOSE, ACTIONS, [
        "{s} proposed on {d} that {t} {c}.",
        "{s} offered to help {t} {c}.",
    ]),
]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


@dataclass(frozen=True)
class GeneratedArticle:
    """One generated article: its file text, its `Article` record and the events it contains."""

    headline: str
    byline: str
    extraction: Extraction

    @property
    def article(self) -> Article:
        return self.extraction.article

    def file_text(self) -> str:
        """Return the article as a text file of SPEC.md: headline, `By ...` line, body."""
        return f"{self.headline}\nBy {self.byline}\n{self.article.text}\n"


class _Writer:
    """Build one article's sentences from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: dict[str, tuple[str, str]] = {}  # code -> (title, full name)

    def pick(self, items: list[str]) -> str:
        return self.rng.choice(items)

    def state(self) -> tuple[str, str, str]:
        return self.rng.choice(STATES)

    def fill(self, template: str) -> str:
        r = self.rng
        return template.format(
            n=r.randrange(20, 40_000), n2=r.randrange(2, 60), pct=r.randrange(5, 95),
            region=self.pick(REGIONS), town=self.pick(TOWNS), state=self.state()[0],
            people=self.pick(PEOPLE), good=self.pick(GOODS), month=self.pick(MONTHS),
            capital=self.pick(list(CAPITALS.values())),
        )

    def actor(self, allow_orgs: bool = True) -> tuple[str, Actor]:
        """Return (how the text names the actor, the actor record)."""
        r = self.rng
        if allow_orgs and r.random() < 0.25:
            name, code = r.choice(ORGANISATIONS)
            return name, Actor(name=name.removeprefix("the "), code=code, type="organisation")
        name, code, adjective = self.state()
        roll = r.random()
        if roll < 0.35:
            title, person = self.people.setdefault(
                code, (r.choice(TITLES), f"{r.choice(FIRST)} {r.choice(LAST)}")
            )
            return f"{adjective} {title} {person}", Actor(name=person, code=code, type="person")
        if roll < 0.5:
            return CAPITALS[code], Actor(name=CAPITALS[code], code=code, type="state")
        return name, Actor(name=name.removeprefix("the "), code=code, type="state")

    def event_sentence(self) -> tuple[str, EventType, Actor, Actor | None, str]:
        """Return a sentence reporting one event, its type, actors and content clause."""
        r = self.rng
        src_text, src = self.actor()
        tgt_text, tgt = self.actor()
        while tgt.code == src.code:
            tgt_text, tgt = self.actor()
        day = r.choice(DAYS)
        kind = r.random()
        etype, fills, forms = next((t, f, fs) for bound, t, f, fs in EVENT_FORMS if kind < bound)
        content = self.fill(r.choice(fills))
        form = r.choice(forms)
        sentence = form.format(s=src_text, t=tgt_text, c=content, d=day)
        return sentence[0].upper() + sentence[1:], etype, src, tgt, content

    def background_sentence(self) -> str:
        r = self.rng
        form = r.choice([
            "Talks in {capital} ended after {n2} hours without agreement, according to two diplomats.",
            "Officials said {n2} people were injured when a drone struck a depot near {town} on {day}.",
            "Trade in {good} between the two sides fell {pct} percent last year to {n} million dollars.",
            "Satellite images published on {day} showed about {n} troops massed near {town}.",
            "Ministers are due to meet again in {capital} in {month}, a spokesperson said.",
            "Analysts said the dispute over {region} had little chance of being settled before {month}.",
            "{n} residents of {town} were evacuated as shelling continued overnight.",
            "The row has pushed prices of {good} up by {pct} percent since {month}.",
            "Parliament in {capital} is expected to vote on the measure within {n2} days.",
            "Protesters gathered outside the embassy in {capital}, chanting for {n2} minutes.",
            "A convoy of {n2} trucks carrying {good} crossed into {region} on {day}.",
            "Neither side has published the text of the {month} memorandum on {region}.",
            "Exercises involving {n} personnel and {n2} ships are planned in {region} for {month}.",
            "Insurers raised premiums for vessels in {region} by {pct} percent after the incident.",
            "The ministry in {capital} declined to comment on the report from {town}.",
        ])
        return form.format(
            capital=r.choice(list(CAPITALS.values())), n=r.randrange(20, 40_000), n2=r.randrange(2, 60),
            town=self.pick(TOWNS), day=r.choice(DAYS), good=self.pick(GOODS), pct=r.randrange(5, 95),
            region=self.pick(REGIONS), month=self.pick(MONTHS),
        )


def generate_article(
    index: int, *, seed: int = 0, start: dt.date = dt.date(2021, 1, 1), days: int = 730,
    per_day: int | None = None, url_prefix: str = "bench://article/",
) -> GeneratedArticle:
    """Return article `index` of the stream for `seed` (the same whatever else is generated).

    Dates are drawn at random from `days` days after `start`, or, with `per_day`, follow the
    index as a monitor's would: `per_day` articles a day from `start` on, the newest last.
    """
    rng = random.Random(f"newswatch-bench:{seed}:{index}")
    writer = _Writer(rng)
    sentences: list[tuple[str, Event | None]] = []
    for _ in range(rng.randrange(3, 7)):
        text, etype, src, tgt, content = writer.event_sentence()
        sentences.append((text, Event(type=etype, source=src, target=tgt, content=content,
                                      sentence=text, start=0, end=0)))
    for _ in range(rng.randrange(8, 16)):
        sentences.append((writer.background_sentence(), None))
    first = sentences[0]
    rest = sentences[1:]
    rng.shuffle(rest)
    capital = CAPITALS[writer.state()[1]]
    lead = f"{capital.upper()} — {first[0]}"
    ordered = [(lead, first[1])] + rest

    body_parts: list[str] = []
    events: list[Event] = []
    offset = 0
    for text, event in ordered:
        if event is not None:
            begin = offset + (len(text) - len(event.sentence))
            events.append(Event(type=event.type, source=event.source, target=event.target,
                                content=event.content, sentence=event.sentence,
                                start=begin, end=begin + len(event.sentence)))
        body_parts.append(text)
        offset += len(text) + 1
    body = "\n".join(body_parts)
    actors = {(a.name, a.type): a for e in events for a in (e.source, e.target) if a is not None}
    offset = index // per_day if per_day else rng.randrange(days)
    published = start + dt.timedelta(days=offset)
    main = events[0]
    verb = {EventType.DEMAND: "demands", EventType.REJECT: "rejects", EventType.THREATEN: "threatens",
            EventType.PROPOSE: "proposes"}[main.type]
    src_name = main.source.name if main.source else "Officials"
    headline = f"{src_name} {verb}: {main.content[:60]}"
    article = Article(url=f"{url_prefix}{seed}/{index:07d}", title=headline, text=body,
                      published=published, source=rng.choice(OUTLETS))
    return GeneratedArticle(headline=headline, byline=article.source or "Staff",
                            extraction=Extraction(article=article, actors=tuple(actors.values()),
                                                  events=tuple(events)))


def generate_articles(n: int, *, seed: int = 0, first: int = 0, **options: object) -> Iterator[GeneratedArticle]:
    """Yield articles `first` .. `first + n - 1` of the stream for `seed`, one at a time."""
    for index in range(first, first + n):
        yield generate_article(index, seed=seed, **options)  # type: ignore[arg-type]


def write_articles(folder: Path, n: int, *, seed: int = 0, first: int = 0) -> list[Path]:
    """Write `n` articles as text files into `folder`; return their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for generated in generate_articles(n, seed=seed, first=first):
        index = int(generated.article.url.rsplit("/", 1)[1])
        path = folder / f"article_{seed}_{index:07d}.txt"
        path.write_text(generated.file_text(), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paths = write_articles(args.folder, args.n, seed=args.seed)
    print(f"wrote {len(paths)} articles to {args.folder}")


if __name__ == "__main__":
    main()
