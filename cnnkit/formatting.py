"""Text for numbers shown to people (base layer: used by the trainer's reports, estimates and pages)."""

from __future__ import annotations

from typing import Optional


def format_seconds(seconds: Optional[float]) -> str:
    """A duration as people read it: "9.9 s", "2 min 05 s", "1 h 02 min"; "–" when unknown (None)."""
    if seconds is None:
        return "–"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def clean_text(text: str) -> str:
    """Text a user typed or uploaded, made safe to store and show: Unicode NFC, no control or format characters
    (among them the bidi overrides that make a name read backwards), whitespace runs as one space, trimmed."""
    import unicodedata

    normal = unicodedata.normalize("NFC", str(text))
    kept = "".join(" " if ch.isspace() else ch for ch in normal
                   if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    return " ".join(kept.split())
