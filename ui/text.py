"""Text a user typed or uploaded (names, class names) shown inside Streamlit's Markdown elements."""

from __future__ import annotations

import re


def plain_markdown(text: str) -> str:
    """Text with Markdown's special characters escaped, for st.markdown / st.warning / st.caption (which render
    Markdown): a name like "*Anna*" or "[x](y)" shows as typed, never as formatting or a link."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", str(text))
