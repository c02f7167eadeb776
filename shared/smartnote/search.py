"""Word-based search that works on any MongoDB wire-protocol server (no `$text` needed).

Each note stores `terms`: the distinct normalised words of its title, tags, attachment OCR
text and content, space-separated. A query word matches a word of `terms` by prefix, with a
regex on escaped text (`(?:^| )word`), checked on each note the list reads in its index order
(`terms` has no index). The same code path runs on Atlas and on the embedded server; user
text never becomes a raw regex.

Every word is kept, and `terms` is one string rather than an array: one BSON element to skip
when a list reads the note, however many words it holds (a list reading a note with 530 000
words took 195 ms with an array, 11 ms with the string). The largest valid note (100 000
chars of content, 50 attachments of 50 000 chars of OCR text, all distinct shortest words)
has 2.6 MB of terms in a 5.3 MB document, a third of MongoDB's 16 MiB limit. The regex also
matches notes stored before, whose `terms` is an array of words (`^` anchors each element).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERM_LENGTH = 64
MAX_QUERY_WORDS = 16


def _fold(text: str) -> str:
    """Lower-case and strip accents, so that "Café" and "cafe" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The normalised words of `text`, in order, duplicates kept."""
    return [word[:MAX_TERM_LENGTH] for word in _WORD.findall(_fold(text))]


def index_terms(texts: Iterable[str]) -> str:
    """The distinct words of all `texts` in order of first appearance, space-separated."""
    return " ".join(dict.fromkeys(word for text in texts for word in words(text)))


def query_words(q: str) -> list[str]:
    """The distinct words of a search query (at most MAX_QUERY_WORDS)."""
    return list(dict.fromkeys(words(q)))[:MAX_QUERY_WORDS]


def terms_filter(q: str) -> dict[str, Any]:
    """A filter on `terms` that every word of `q` must match; matches nothing without words."""
    found = query_words(q)
    if not found:
        return {"_id": {"$in": []}}
    return {"$and": [{"terms": {"$regex": "(?:^| )" + re.escape(word)}} for word in found]}
