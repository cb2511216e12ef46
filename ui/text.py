"""User text on a page: shown as text, never as markdown or HTML.

Streamlit renders markdown in st.markdown, st.caption, st.info, st.error, labels and toasts. Text that a user
typed or uploaded (names, notes, run labels, class names, link parameters) goes through `plain()` before it is
put into such a string, so a link, an image, a heading or an emoji directive an attacker wrote shows as the
characters they typed."""

from __future__ import annotations

import re

from cnnkit.formatting import clean_text

# The marks that make links, images, autolinks, HTML, emphasis, code, headings, tables, maths and Streamlit's
# directives (:red[...], :material/...:, emoji); a backslash before any ASCII punctuation shows it as itself.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#!|~:$&])")
_LINE_START = re.compile(r"^([-+=>]|\d+[.)])")  # a list or quote mark where a block could start: its last char escaped


def plain(text: object, limit: int = 300) -> str:
    """`text` escaped for a markdown string: control and bidi characters removed, one line, at most `limit`
    characters, every mark that could make a link, image, heading or HTML shown as itself."""
    cleaned = clean_text(str(text))
    if len(cleaned) > limit:
        cleaned = cleaned[:limit] + "…"
    escaped = _SPECIAL.sub(r"\\\1", cleaned)
    escaped = re.sub(r"(?i)\bwww\.", "www\\.", escaped)  # GFM links a bare www.example.com
    return _LINE_START.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], escaped)


_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")


def escape_markdown(text: object) -> str:
    """Longer text from outside the code (a teacher's lesson file, an engine message) for a markdown string:
    every line cleaned like `plain` (no control or bidi characters), line breaks kept, every ASCII punctuation
    mark escaped so it shows as itself, never as formatting, a link or a Streamlit directive."""
    lines = [clean_text(line) for line in str(text).splitlines()]
    return "\n".join(_PUNCTUATION.sub(r"\\\1", line) for line in lines)
