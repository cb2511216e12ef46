"""User text on a page: shown as text, never as markdown or HTML.

Streamlit renders markdown in st.markdown, st.caption, st.info, st.error, labels and toasts. Text that a user
typed or uploaded (names, notes, run labels, class names, link parameters) goes through `plain()` before it is
put into such a string, so a link, an image, a heading or an emoji directive an attacker wrote shows as the
characters they typed."""

from __future__ import annotations

import re

from cnnkit.formatting import clean_text

# Every ASCII punctuation mark that markdown (CommonMark, GFM, Streamlit's directives and emoji) gives a
# meaning to; a backslash before any ASCII punctuation shows it as itself.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=\"'])")


def plain(text: object, limit: int = 300) -> str:
    """`text` escaped for a markdown string: control and bidi characters removed, one line, at most `limit`
    characters, every markdown mark shown as itself."""
    cleaned = clean_text(str(text))
    if len(cleaned) > limit:
        cleaned = cleaned[:limit] + "…"
    return _SPECIAL.sub(r"\\\1", cleaned)
