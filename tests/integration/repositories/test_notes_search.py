"""Search through the notes repository on the real server: every word of the largest note
the API accepts is found and the note fits in a document; notes stored before still match."""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator
from typing import Any

import bson
from pymongo.asynchronous.collection import AsyncCollection

from smartnote.domain.attachments import MAX_ATTACHMENTS_PER_NOTE, new_attachment
from smartnote.images.ocr import MAX_TEXT_CHARS
from smartnote.models.notes import MAX_CONTENT, MAX_TAG_LENGTH, MAX_TAGS, MAX_TITLE
from smartnote.repositories.notes import NoteQuery, NotesRepository
from tests.utils.notes_repository import fresh_notes

OWNER = "search-owner"
MONGODB_MAX_DOCUMENT = 16 * 1024 * 1024


def _shortest_words() -> Iterator[str]:
    """Distinct words, shortest first: the most words (and terms) a text of a length holds."""
    for length in itertools.count(1):
        for letters in itertools.product(string.ascii_lowercase + string.digits, repeat=length):
            yield "".join(letters)


def _text(words: Iterator[str], chars: int) -> str:
    text = next(words)
    for word in words:
        if len(text) + 1 + len(word) > chars:
            return text
        text += " " + word
    raise AssertionError("unreachable")


def _fields(**fields: Any) -> dict[str, Any]:
    defaults = {"title": "", "content": "", "tags": [], "pinned": False, "archived": False}
    return {**defaults, "color": None, "reminder": None, **fields}


def _read_pages(ocr_texts: list[str]) -> list[dict[str, Any]]:
    """Processed image attachments, one per text, each holding it as its OCR text."""
    attachments = []
    for i, text in enumerate(ocr_texts):
        attachment = new_attachment(f"{i:016x}", f"uploads/k/{i}", "page.jpg", "image/jpeg", 1)
        attachment.update(status="ready", width=4000, height=3000, ocr_text=text)
        attachments.append(attachment)
    return attachments


async def _titles(repository: NotesRepository, q: str) -> list[str]:
    found, _ = await repository.page(OWNER, NoteQuery(q=q), 20, None)
    return [note["title"] for note in found]


async def test_every_word_of_the_largest_valid_note_is_found(mongo_uri: str) -> None:
    async with fresh_notes(mongo_uri, "search") as (repository, collection):
        await _check_every_word_is_found(repository, collection)


async def _check_every_word_is_found(
    repository: NotesRepository, collection: AsyncCollection[dict[str, Any]]
) -> None:
    words = _shortest_words()
    title = _text(words, MAX_TITLE)
    tags = [_text(words, MAX_TAG_LENGTH) for _ in range(MAX_TAGS)]
    ocr_texts = [_text(words, MAX_TEXT_CHARS) for _ in range(MAX_ATTACHMENTS_PER_NOTE)]
    content = _text(words, MAX_CONTENT)
    note = await repository.create(OWNER, _fields(title=title, content=content, tags=tags))
    attachments = _read_pages(ocr_texts)
    await repository.update(OWNER, note["_id"], lambda _: {"attachments": attachments})

    stored = await collection.find_one({"_id": note["_id"]})
    assert stored is not None
    # 2.6 MB of terms, 5.3 MB in all: room to spare under MongoDB's limit.
    assert len(bson.encode(stored)) < MONGODB_MAX_DOCUMENT / 2
    for text in (title, tags[-1], ocr_texts[0], ocr_texts[-1], content):
        last_word = text.split()[-1]
        assert await _titles(repository, last_word) == [title], last_word


async def test_a_note_stored_with_a_terms_array_is_still_found(mongo_uri: str) -> None:
    async with fresh_notes(mongo_uri, "search") as (repository, collection):
        note = await repository.create(OWNER, _fields(title="groceries", content="milk"))
        # How notes were stored before `terms` became one string.
        terms = {"$set": {"terms": ["groceries", "milk"]}}
        await collection.update_one({"_id": note["_id"]}, terms)
        assert await _titles(repository, "gro mil") == ["groceries"]
        assert await _titles(repository, "roceries") == []


def _widest_han(chars: int, start: int) -> str:
    """`chars` Han characters of the supplementary plane (4 bytes each in UTF-8), all
    distinct from `start` on: every pair of the text a new term."""
    return "".join(chr(0x20000 + (start + i) % 0x2A6D0) for i in range(chars))


async def test_the_largest_note_of_unspaced_script_fits_and_is_found(mongo_uri: str) -> None:
    """Chinese is indexed as character pairs: the longest texts of the widest characters,
    every pair distinct, still make a note MongoDB stores, and a word inside a run of
    characters (no spaces to find it by) is found."""
    async with fresh_notes(mongo_uri, "search_cjk") as (repository, collection):
        content = _widest_han(MAX_CONTENT, 0)
        note = await repository.create(OWNER, _fields(title="東京都の天気", content=content))
        ocr_texts = [
            _widest_han(MAX_TEXT_CHARS, MAX_CONTENT + i * MAX_TEXT_CHARS)
            for i in range(MAX_ATTACHMENTS_PER_NOTE)
        ]
        attachments = _read_pages(ocr_texts)
        await repository.update(OWNER, note["_id"], lambda _: {"attachments": attachments})

        stored = await collection.find_one({"_id": note["_id"]})
        assert stored is not None
        assert len(bson.encode(stored)) < MONGODB_MAX_DOCUMENT
        for word in ("天気", "京都", "東京都", content[5000:5003]):
            assert await _titles(repository, word) == ["東京都の天気"], word
        assert await _titles(repository, "大阪") == []
