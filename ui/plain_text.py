"""Text from outside the code (a teacher's lesson file, a link parameter, a typed name) shown as plain text.

Streamlit renders st.markdown, st.caption, st.info, labels… as Markdown (with :emoji:, :red[…] and $math$
directives). escape_markdown backslash-escapes every ASCII punctuation character, which CommonMark then shows
as itself: the text appears exactly as written, never as formatting or a link."""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")


def escape_markdown(text: object) -> str:
    """`text` (any object, as str) with Markdown and Streamlit directives neutralised; newlines kept."""
    return _PUNCTUATION.sub(r"\\\1", str(text))


__all__ = ["escape_markdown"]
