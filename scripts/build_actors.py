"""Build pipeline/data/actors.jsonl from pycountry and the curated tables beside it.

Run `python scripts/build_actors.py` after editing state_aliases.tsv, organisations.tsv,
people.tsv or non_actor_phrases.txt; the output order is stable, so the diff of
actors.jsonl shows exactly what changed. `--check` exits 1 when actors.jsonl is out of date.

Output: one alias a line in EntityRuler form, `{"label", "pattern", "id"}`, plus `code`, `name`,
`type` (state, organisation, person, none), and `surname: true` for a person's surname alone,
`refer` (generic nouns such as "alliance") on an organisation's first line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pycountry

SURNAME_FIRST = frozenset({"CHN", "TWN", "HKG", "KOR", "PRK", "VNM", "KHM"})
DATA = Path(__file__).resolve().parent.parent / "pipeline" / "data"
SEAT_ORG_WORDS = re.compile(
    r"\b(House|Department|Office|Street|Palace|Pentagon|Kremlin|Chancellery|Hill|Knesset|"
    r"Elysee|Élysée|Orsay|Whitehall|Westminster|Zhongnanhai|Congress|Bottom|Moncloa|Planalto|"
    r"Rosada|Buildings|Malacanang|Malacañang|Miraflores|Pinos|Narino|Nariño|No\.|Number)\b"
)


def _rows(name: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) of a tab-separated table, skipping comments and the header."""
    header = True
    for n, line in enumerate((DATA / name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if header:
            header = False
            continue
        yield n, line.split("\t")


def _split(field: str) -> list[str]:
    return [x.strip() for x in field.split("|") if x.strip()]


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _variants(alias: str) -> list[str]:
    """The alias, its accent-free spelling and its "St." / "Saint" twin."""
    out = [alias, _ascii(alias)]
    for a in list(out):
        if a.startswith("Saint "):
            out.append("St. " + a[6:])
    return list(dict.fromkeys(out))


def _pattern(alias: str) -> str | list[dict[str, str]]:
    """A phrase pattern, or a token pattern matching exactly this case for "=ALIAS"."""
    if alias.startswith("="):
        return [{"ORTH": part} for part in alias[1:].split()]
    return alias


def _plural(demonym: str) -> str | None:
    if demonym.endswith(("an", "i")) and not demonym.endswith("ese"):
        return demonym + "s"
    return None


def _state_lines() -> list[dict[str, object]]:
    curated = {f[0]: (n, f) for n, f in _rows("state_aliases.tsv")}
    lines: list[dict[str, object]] = []
    codes = {c.alpha_3 for c in pycountry.countries} | set(curated)
    for code in sorted(codes):
        country = pycountry.countries.get(alpha_3=code)
        _, fields = curated.get(code, (0, [code, "", "", "", ""]))
        fields = fields + [""] * (5 - len(fields))
        names = []
        if country is not None:
            for attr in ("common_name", "name", "official_name"):
                value = getattr(country, attr, None)
                if value and "(" in value:  # "Falkland Islands (Malvinas)" -> "Falkland Islands"
                    value = re.sub(r"\s*\(.*?\)", "", value).strip()
                if value and "," not in value:
                    names.append(value)
        display = fields[1] or (names[0] if names else code)
        base = {"id": code, "code": code, "name": display, "type": "state"}
        aliases = [display, *names, *_split(fields[2])]
        for alias in aliases:
            for v in _variants(alias):
                lines.append({"label": "GPE", "pattern": _pattern(v), **base})
        for demonym in _split(fields[3]):
            forms = [demonym] + ([p] if (p := _plural(demonym)) else [])
            for form in forms:
                for v in _variants(form):
                    lines.append({"label": "NORP", "pattern": _pattern(v), **base})
        for seat in _split(fields[4]):
            label = "ORG" if SEAT_ORG_WORDS.search(seat) else "GPE"
            for v in _variants(seat):
                lines.append({"label": label, "pattern": _pattern(v), **base})
    return lines


def _organisation_lines() -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for n, f in _rows("organisations.tsv"):
        if len(f) != 5:
            sys.exit(f"organisations.tsv:{n}: expected 5 tab-separated fields, got {len(f)}")
        slug, code, name, refer, aliases = (x.strip() for x in f)
        base = {"id": slug, "code": code, "name": name, "type": "organisation"}
        first = True
        for alias in [name, *_split(aliases)]:
            for v in _variants(alias):
                line: dict[str, object] = {"label": "ORG", "pattern": _pattern(v), **base}
                if first and refer:
                    line["refer"] = _split(refer)
                first = False
                lines.append(line)
    return lines


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _ascii(name).lower()).strip("-")


def _person_lines() -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for n, f in _rows("people.tsv"):
        f = f + [""] * (5 - len(f))
        name, code, aliases, surname = (x.strip() for x in f[:4])
        if not name or not code:
            sys.exit(f"people.tsv:{n}: name and code are required")
        base = {"id": _slug(name), "code": code, "name": name, "type": "person"}
        for alias in [name, *_split(aliases)]:
            for v in _variants(alias):
                lines.append({"label": "PERSON", "pattern": _pattern(v), **base})
        if surname != "-":
            # family name first in Chinese, Korean, Vietnamese and Khmer names: "Zhao Lijian"
            last = surname or name.split()[0 if code in SURNAME_FIRST else -1]
            for v in _variants(last):
                lines.append({"label": "PERSON", "pattern": _pattern(v), **base, "surname": True})
    return lines


def _blocker_lines() -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for line in (DATA / "non_actor_phrases.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lines.append({"label": "MISC", "pattern": line.strip(), "id": "-", "code": None,
                          "name": line.strip(), "type": "none"})
    return lines


def _key(line: dict[str, object]) -> str:
    pattern = line["pattern"]
    if isinstance(pattern, list):
        return "=" + " ".join(t["ORTH"] for t in pattern)
    return str(pattern).lower()


def build_lines() -> list[dict[str, object]]:
    """Return every actors.jsonl line: one per distinct alias of each actor, in a stable order."""
    seen: dict[str, str] = {}
    surnames: dict[str, set[str]] = {}
    out: list[dict[str, object]] = []
    # earlier groups win a clash: an alias of a state is not taken by a person's surname
    groups = [_blocker_lines(), _state_lines(), _organisation_lines(), _person_lines()]
    for line in (x for g in groups for x in g if x.get("surname")):
        surnames.setdefault(_key(line), set()).add(str(line["id"]))
    for group in groups:
        for line in group:
            key = _key(line)
            if line.get("surname") and len(surnames.get(key, ())) > 1:
                continue  # two people share this surname: it identifies neither
            owner = seen.get(key)
            if owner is not None:
                if owner != line["id"] and not line.get("surname"):
                    print(f"note: alias {key!r} of {line['id']} is already {owner}", file=sys.stderr)
                continue
            seen[key] = str(line["id"])
            out.append(line)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if actors.jsonl is out of date")
    ap.add_argument("--out", type=Path, default=DATA / "actors.jsonl")
    args = ap.parse_args()
    text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in build_lines())
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run python scripts/build_actors.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} lines to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
