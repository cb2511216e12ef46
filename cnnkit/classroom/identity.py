"""THE identity rule: when two owner names are one person (issue 29).

Every place that matches an owner against a name asks here (`same_person`): name claims, run owners (delete,
stop, resume, the board), datasets, labs, pins, lesson predictions, and the privacy tools' export and erase.
A name's key (`identity_key`) is:

1. Unicode NFKC (fullwidth "Ａｎｎａ" is "Anna"), then case folding ("ANNA" is "anna");
2. the confusables skeleton of Unicode TS #39 (Cyrillic "Аnna" and Greek "Αnna" are "anna"), from the table
   confusables.tsv beside this module (made by benchmarks/make_confusables.py from Unicode's confusables.txt);
3. repeated until nothing changes, so the key of a key is itself.

Case folding first misses capitals that look like another letter's capital but fold to a letter that does not
(Cyrillic "В" folds to "в", which looks like no Latin letter, yet "Вen" reads "Ben"); so a name also has the
key of its skeleton (`identity_keys`: the skeleton taken before folding too), and two names are one person when
any of their keys agree. The keys never merge "ivan" and "lvan" (only "Ivan" looks like both).

The guest ("") and the command line's owner are only themselves. Signed-in identities (e-mail addresses from
the sign-in) are owners like typed names: the same rule matches them.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

TABLE = Path(__file__).with_name("confusables.tsv")
_MAX_ROUNDS = 4   # NFKC, case folding and the skeleton settle in one or two rounds on real names


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    """Each confusable character's TS #39 prototype (a string)."""
    table: dict[str, str] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        source, target = line.split("\t")
        table[chr(int(source, 16))] = "".join(chr(int(code, 16)) for code in target.split())
    return table


def skeleton(text: str) -> str:
    """TS #39 skeleton: NFD, each character replaced by its prototype, NFD again."""
    table = _prototypes()
    mapped = "".join(table.get(ch, ch) for ch in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def _fold(text: str) -> str:
    # Control and format characters (zero-width joiners, bidi overrides) do not show: they tell nobody apart.
    kept = "".join(" " if ch.isspace() else ch for ch in unicodedata.normalize("NFKC", text)
                   if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    return " ".join(kept.casefold().split())


@lru_cache(maxsize=65536)
def identity_key(name: Any) -> str:
    """The form two owner names are compared in: equal keys, one person ("" for the guest or a non-string)."""
    if not isinstance(name, str):
        return ""
    key = name
    for _ in range(_MAX_ROUNDS):
        new = skeleton(_fold(key))
        if new == key:
            break
        key = new
    return key


@lru_cache(maxsize=65536)  # asked for each job's owner on every page run (cnnkit.jobs: a student's own jobs)
def identity_keys(name: Any) -> tuple[str, ...]:
    """Every key of `name` (one to three): its identity_key, and those of its skeleton taken before case folding
    (and before NFKC, which turns a few look-alikes, e.g. the long s, into another letter first)."""
    first = identity_key(name)
    if not isinstance(name, str):
        return (first,)
    keys = [first]
    for other in (identity_key(skeleton(unicodedata.normalize("NFKC", name))), identity_key(skeleton(name))):
        if other not in keys:
            keys.append(other)
    return tuple(keys)


def person_groups(owners: Iterable[str]) -> dict[str, str]:
    """Each owner's group id: owners that are one person (any key in common, transitively) share one, so a
    listing shows one row per person."""
    groups: dict[str, str] = {}   # key -> group id
    out: dict[str, str] = {}
    for owner in owners:
        keys = identity_keys(owner)
        group = next((groups[k] for k in keys if k in groups), keys[0])
        for k in keys:
            groups.setdefault(k, group)
        out[owner] = group
    return out


def same_person(a: Any, b: Any) -> bool:
    """Whether owners `a` and `b` are one person. The guest ("" or None) is only the guest; the command line's
    owner (permissions.CLI_OWNER, not a name anyone can type) is only itself."""
    a = a if isinstance(a, str) else ""
    b = b if isinstance(b, str) else ""
    if not a.strip() or not b.strip():
        return not a.strip() and not b.strip()
    if a.startswith("(") or b.startswith("("):  # "(command line)", "(teacher)": exact only, never a look-alike
        return a == b
    return not set(identity_keys(a)).isdisjoint(identity_keys(b))
