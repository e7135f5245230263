"""Write the large cases of the hostile-input corpus into a folder (too big to commit).

The small cases live in tests/hostile/; these are generated at test and benchmark time:

- `one-line-6mb.txt`: a 6 MB text on one line (no paragraph or sentence break a parser likes);
- `words-200k.txt`: a 200,000-word news-like text in ordinary paragraphs;
- `nested-5000.html`: a page whose text sits 5,000 elements deep.

Usage: python scripts/make_hostile_corpus.py FOLDER   (prints the paths written)
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ACTORS = ["Russia", "China", "the United States", "Ukraine", "NATO", "the European Union", "Iran",
          "Turkey", "Japan", "India", "Poland", "Germany", "France", "Israel", "Egypt", "Brazil"]
VERBS = ["demanded that", "urged", "called on", "warned", "said that", "told", "asked"]
CLAUSES = ["withdraw its troops from the border", "release the detained sailors",
           "stop the missile tests", "reopen the talks in Geneva", "lift the sanctions on grain",
           "end the blockade of the port", "pay the overdue gas bills", "respect the ceasefire"]
FILLER = ["Officials said the meeting lasted three hours.", "Markets fell slightly on the news.",
          "The ministry gave no further details.", "Analysts expect a reply within days.",
          "Diplomats met again on Thursday evening.", "The statement was read out on state television."]


def news_sentences(rng: random.Random) -> str:
    """Return one news-like sentence: an actor asking something of another, or filler."""
    if rng.random() < 0.4:
        return rng.choice(FILLER)
    a, b = rng.sample(ACTORS, 2)
    return f"{a[0].upper()}{a[1:]} on Monday {rng.choice(VERBS)} {b} {rng.choice(CLAUSES)}."


def news_text(words: int, *, seed: int = 18, paragraph_sentences: int = 5) -> str:
    """Return a headline and paragraphs of news-like sentences, about `words` words long."""
    rng = random.Random(seed)
    lines = ["Neighbours trade demands as border talks stall"]
    count = 0
    while count < words:
        paragraph = " ".join(news_sentences(rng) for _ in range(paragraph_sentences))
        count += len(paragraph.split())
        lines.append(paragraph)
    return "\n".join(lines) + "\n"


def one_line(size: int) -> str:
    """Return `size` characters of news-like sentences joined on a single line."""
    rng = random.Random(6)
    parts: list[str] = []
    total = 0
    while total < size:
        sentence = news_sentences(rng)
        parts.append(sentence)
        total += len(sentence) + 1
    return " ".join(parts)[:size] + "\n"


def nested_page(depth: int) -> str:
    """Return an HTML page whose one story paragraph sits `depth` <div>s deep."""
    story = ("<h1>Austria urges Italy to reopen Brenner pass</h1><p>VIENNA — Austria on Monday urged "
             "Italy to reopen the Brenner pass to lorries, saying the closure hurt trade.</p>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Deep page</title></head><body>"
            + "<div>" * depth + story + "</div>" * depth + "</body></html>\n")


def write_large(folder: Path) -> list[Path]:
    """Write the large cases into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "one-line-6mb.txt": one_line(6 * 1024 * 1024),
        "words-200k.txt": news_text(200_000),
        "nested-5000.html": nested_page(5000),
    }
    paths = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for written in write_large(Path(sys.argv[1])):
        print(written)
