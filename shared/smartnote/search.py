"""Word-based search that works on any MongoDB wire-protocol server (no `$text` needed).

Each note stores `terms`: the distinct normalised words of its title, content and
attachment OCR text, in a multikey index. A query word matches a term by prefix with an
anchored regex on escaped text, which MongoDB answers from the index bounds. The same code
path runs on Atlas and on the embedded server; user text never becomes a raw regex.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERM_LENGTH = 64
MAX_TERMS_PER_NOTE = 5000
MAX_QUERY_WORDS = 16


def _fold(text: str) -> str:
    """Lower-case and strip accents, so that "Café" and "cafe" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The normalised words of `text`, in order, duplicates kept."""
    return [word[:MAX_TERM_LENGTH] for word in _WORD.findall(_fold(text))]


def index_terms(texts: Iterable[str]) -> list[str]:
    """The distinct words of all `texts`, capped so that one note's index stays bounded."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in words(text):
            seen.setdefault(word, None)
            if len(seen) >= MAX_TERMS_PER_NOTE:
                return list(seen)
    return list(seen)


def query_words(q: str) -> list[str]:
    """The distinct words of a search query (at most MAX_QUERY_WORDS)."""
    return list(dict.fromkeys(words(q)))[:MAX_QUERY_WORDS]


def terms_filter(q: str) -> dict[str, Any]:
    """A filter on `terms` that every word of `q` must match; matches nothing without words."""
    found = query_words(q)
    if not found:
        return {"_id": {"$in": []}}
    return {"$and": [{"terms": {"$regex": "^" + re.escape(word)}} for word in found]}
