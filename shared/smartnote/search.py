r"""Word-based search that works on any MongoDB wire-protocol server (no `$text` needed).

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

Scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer,
Myanmar) have no word boundaries `\w+` can see: a run of them is indexed as its overlapping
character pairs plus its last character, so that every character starts a term, and a query
is cut the same way. "東京都" is stored as "東京 京都 都": "京都", "都" and "東京" find it, a
query of one character finds every note holding it, a longer query every note holding all its
pairs. At most MAX_UNSPACED_TERMS such distinct terms are kept per note (a note of 100 000
characters of Chinese has some tens of thousands): with the longest texts made of the
widest characters the note then still fits in MongoDB's 16 MiB.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from smartnote.errors import ValidationFailed

_WORD = re.compile(r"\w+", re.UNICODE)
# Runs of characters of scripts written without spaces (after folding: NFKD has turned
# half-width kana into full-width and dropped Thai and kana combining marks).
_UNSPACED = re.compile(
    "["
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"  # Han
    "]+"
)
# Letters that casefold and NFKD leave marked: Turkish dotless i (U+0131, the lower case of
# "I" in Turkish: "KIRMIZI" is "k\u0131rm\u0131z\u0131") and the letters with a stroke, which
# Unicode decomposes into no base letter and mark as it does "ó" ("Łódź" typed without its
# marks is "lodz").
_UNMARKED = str.maketrans("\u0131łøđħŧ", "ilodht")
MAX_TERM_LENGTH = 64
MAX_QUERY_WORDS = 32
MAX_UNSPACED_TERMS = 300_000


def _fold(text: str) -> str:
    """Lower-case and strip accents, so that "Café" and "cafe" are the same word.

    Every mark goes, not only those with a combining class: Thai vowel signs and Indic
    matras have class 0 and are no `\\w`, so kept they cut words into single letters that
    prefix-match unrelated words. Case is folded again after the decomposition (a styled
    bold H, U+1D407, decomposes to "H"), and what is left is composed again (NFC), so that
    a Hangul syllable stays one character instead of its letters ("사과" is no prefix of
    "사관"). Dotless and stroked letters lose their marks too (`_UNMARKED`).
    """
    if text.isascii():  # most text: nothing to decompose, strip or compose
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if ch.isascii() or unicodedata.category(ch)[0] != "M")
    return unicodedata.normalize("NFC", bare.casefold().translate(_UNMARKED))


def _pairs(run: str, last_alone: bool) -> Iterator[str]:
    """A run of an unspaced script: its overlapping character pairs, and its last character
    alone when `last_alone` (stored, every character then starts a term) or the run is one
    character."""
    for start in range(len(run) - 1):
        yield run[start : start + 2]
    if last_alone or len(run) == 1:
        yield run[-1]


def _segments(word: str, last_alone: bool) -> Iterator[str]:
    """`word` (a `\\w+` run) as terms: unspaced-script runs as pairs, the rest whole."""
    end = 0
    for run in _UNSPACED.finditer(word):
        if run.start() > end:
            yield word[end : run.start()][:MAX_TERM_LENGTH]
        yield from _pairs(run.group(), last_alone)
        end = run.end()
    if end < len(word):
        yield word[end:][:MAX_TERM_LENGTH]


def _words(text: str, stored: bool = True) -> tuple[list[str], bool]:
    """The words of `text` (see `words`), and whether it holds an unspaced script. A query's
    (`stored` false) leave out the last character of a run: its pair already holds it."""
    folded = _fold(text)
    if _UNSPACED.search(folded) is None:  # the common case, at the old cost
        return [word[:MAX_TERM_LENGTH] for word in _WORD.findall(folded)], False
    found = [term for word in _WORD.findall(folded) for term in _segments(word, stored)]
    return found, True


def words(text: str) -> list[str]:
    """The normalised words of `text`, in order, duplicates kept; unspaced scripts cut into
    character pairs."""
    return _words(text)[0]


def index_terms(texts: Iterable[str]) -> str:
    """The distinct words of all `texts` in order of first appearance, space-separated (of
    the unspaced scripts' terms, the first MAX_UNSPACED_TERMS)."""
    terms: dict[str, None] = {}
    unspaced = 0
    for text in texts:
        found, has_unspaced = _words(text)
        if not has_unspaced:
            terms.update(dict.fromkeys(found))
            continue
        for word in found:
            if word in terms:
                continue
            if _UNSPACED.match(word):
                if unspaced == MAX_UNSPACED_TERMS:
                    continue
                unspaced += 1
            terms[word] = None
    return " ".join(terms)


def query_words(q: str) -> list[str]:
    """The distinct words of a search query; more than MAX_QUERY_WORDS is a 422 (a note must
    hold every word: dropping some would find notes that lack them)."""
    found = list(dict.fromkeys(_words(q, stored=False)[0]))
    if len(found) > MAX_QUERY_WORDS:
        raise ValidationFailed(
            "Too many words to search for",
            details=[
                {
                    "loc": ["query", "q"],
                    "msg": f"at most {MAX_QUERY_WORDS} distinct words (in Chinese, Japanese,"
                    " Thai...: character pairs)",
                    "type": "too_many_words",
                }
            ],
        )
    return found


def terms_filter(q: str) -> dict[str, Any]:
    """A filter on `terms` that every word of `q` must match; matches nothing without words."""
    found = query_words(q)
    if not found:
        return {"_id": {"$in": []}}
    # In one order whatever order the words were typed in: the same search is the same filter
    # (a cursor is bound to its filter).
    terms = [{"terms": {"$regex": "(?:^| )" + re.escape(word)}} for word in sorted(found)]
    return {"$and": terms}
