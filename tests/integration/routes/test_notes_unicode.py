"""GET /notes with text from every script: cursors that page past any title, search that
folds case, marks and compatibility forms without joining or splitting words, tags and
titles equal whatever Unicode form they were typed in."""

from __future__ import annotations

from typing import Any

import httpx
from pymongo.collection import Collection

from smartnote.models.notes import MAX_TAG_FILTERS, MAX_TAGS
from smartnote.search import MAX_QUERY_WORDS
from tests.conftest import ApiUser, assert_error
from tests.integration.jobs.conftest import notes_collection  # noqa: F401 - a fixture here too
from tests.utils.notes_api import create, page_all, titles

# --- cursor paging -----------------------------------------------------------------------


def test_title_sort_pages_past_a_long_non_ascii_title(api: httpx.Client, user: ApiUser) -> None:
    """A 150-character Russian title (valid: titles hold up to 200 characters) is the last
    note of a page: its next_cursor must lead to the next page."""
    first = create(api, user, title="Ж" * 150)
    second = create(api, user, title="Я" * 150)
    seen = page_all(api, user, sort="title", limit=1)
    assert [n["id"] for n in seen] == [first["id"], second["id"]]


def test_title_sort_pages_past_an_emoji_title(api: httpx.Client, user: ApiUser) -> None:
    first = create(api, user, title="party " + "\U0001f600" * 60)
    second = create(api, user, title="zebra")
    seen = page_all(api, user, sort="title", limit=1)
    assert [n["id"] for n in seen] == [first["id"], second["id"]]


def test_title_sort_pages_past_the_widest_title(
    api: httpx.Client,
    user: ApiUser,
    notes_collection: Collection[dict[str, Any]],  # noqa: F811 - the fixture imported above
) -> None:
    """The widest title key: 200 characters that NFC decomposes into three 4-byte ones
    (U+1D160, a composition exclusion), 12 UTF-8 bytes each; or that JSON escapes (U+0001,
    6 bytes: only in a title stored before titles were one line of text). The cursor after
    such a note was longer than `cursor` may be: a 422 on page 2."""
    for widest in ("\U0001d160", "\u0001"):
        if widest.isprintable():
            first = create(api, user, title=widest * 200)
        else:
            first = create(api, user, title="stored before the rule")
            old = {"title": widest * 200, "title_key": widest * 200}
            notes_collection.update_one({"_id": first["id"]}, {"$set": old})
        second = create(api, user, title="\U0001f600" * 200)
        seen = page_all(api, user, sort="title", limit=1)
        assert [n["id"] for n in seen] == [first["id"], second["id"]], widest
        for note in (first, second):
            permanent = {"permanent": True}
            api.delete(f"/notes/{note['id']}", params=permanent, headers=user.headers)


# --- search ------------------------------------------------------------------------------


def test_thai_search_does_not_find_unrelated_words(api: httpx.Client, user: ApiUser) -> None:
    """ "กิน" (eat) is not in a note about "นก" (bird): the vowel sign U+0E34 has combining
    class 0, is kept by the fold and splits the query into the single letters ก and น."""
    create(api, user, title="bird", content="นก")
    create(api, user, title="eat", content="ฉันกินข้าว")
    assert titles(api.get("/notes", params={"q": "กิน"}, headers=user.headers)) == ["eat"]


def test_hindi_search_does_not_find_unrelated_words(api: httpx.Client, user: ApiUser) -> None:
    """ "किताब" (book): its vowel signs are no `\\w`, so the query becomes the fragments क, त,
    ब, each matched by prefix: "कब तक बस" ("when, till, bus") is found."""
    create(api, user, title="unrelated", content="कब तक बस")
    create(api, user, title="book", content="मेरी किताब")
    assert titles(api.get("/notes", params={"q": "किताब"}, headers=user.headers)) == ["book"]


def test_korean_query_is_not_a_prefix_of_another_syllable(api: httpx.Client, user: ApiUser) -> None:
    """NFKD splits Hangul syllables into jamo: "사과" (apple) prefix-matches "사관" (officer)."""
    create(api, user, title="officer", content="사관")
    create(api, user, title="apple", content="사과 주스")
    assert titles(api.get("/notes", params={"q": "사과"}, headers=user.headers)) == ["apple"]


def test_styled_letters_are_found_ignoring_case(api: httpx.Client, user: ApiUser) -> None:
    """Case is ignored (README): a note written in mathematical bold letters (common when
    pasted from social media) folds to "Hello" with its capital, casefold ran before NFKD."""
    create(api, user, title="styled", content="\U0001d407\U0001d41e\U0001d425\U0001d425\U0001d428")
    assert titles(api.get("/notes", params={"q": "hello"}, headers=user.headers)) == ["styled"]


RED = "k\u0131rm\u0131z\u0131"  # Turkish, with three dotless i


def test_turkish_capitals_and_stroked_letters_fold_like_case_and_accents(
    api: httpx.Client, user: ApiUser
) -> None:
    """Case and accents are ignored (README). Turkish "KIRMIZI" is RED in capitals, but
    casefold keeps its dotless i (U+0131) while "I" folds to "i"; and Unicode decomposes no
    letter with a stroke ("ł", "ø", "đ") as it does "ó": the same word in capitals, or typed
    without its marks, was not found."""
    create(api, user, title="turkish", content=f"{RED} elma")
    create(api, user, title="capitals", content="KIRMIZI BİBER")
    create(api, user, title="polish", content="Łódź")
    create(api, user, title="danish", content="København")
    create(api, user, title="croatian", content="Đakovo")
    for q, found in [
        ("KIRMIZI", ["capitals", "turkish"]),
        ("kirmizi", ["capitals", "turkish"]),
        (RED, ["capitals", "turkish"]),
        ("biber", ["capitals"]),
        ("lodz", ["polish"]),
        ("ŁÓDŹ", ["polish"]),
        ("kobenhavn", ["danish"]),
        ("KØBENHAVN", ["danish"]),
        ("dakovo", ["croatian"]),
    ]:
        listed = titles(api.get("/notes", params={"q": q}, headers=user.headers))
        assert sorted(listed) == found, q


def test_every_word_of_a_long_query_must_match(api: httpx.Client, user: ApiUser) -> None:
    """README: `q` matches notes that contain every word of the query. Past the 16th the
    words used to be dropped, so a note lacking the 17th was found."""
    words = [f"word{i}" for i in range(16)]
    create(api, user, title="sixteen", content=" ".join(words))
    q = " ".join([*words, "zeppelin"])
    assert titles(api.get("/notes", params={"q": q}, headers=user.headers)) == []


def test_a_query_of_more_words_than_are_searched_is_refused(
    api: httpx.Client, user: ApiUser
) -> None:
    q = " ".join(f"word{i}" for i in range(MAX_QUERY_WORDS + 1))
    response = api.get("/notes", params={"q": q}, headers=user.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == ["query", "q"]


def test_long_chinese_query_must_match_all_of_it(api: httpx.Client, user: ApiUser) -> None:
    phrase = "我们明天早上八点在火车站门口见面然后一起去"  # 21 characters
    create(api, user, title="plan", content=phrase)
    other = phrase[:-1] + "吃"
    assert titles(api.get("/notes", params={"q": other}, headers=user.headers)) == []
    assert titles(api.get("/notes", params={"q": phrase}, headers=user.headers)) == ["plan"]


# --- tags ---------------------------------------------------------------------------------


def test_tags_canonically_equal_are_one_tag(api: httpx.Client, user: ApiUser) -> None:
    """ "café" typed precomposed (NFC) and decomposed (NFD, e.g. pasted from macOS) are the
    same text: they are two tags in /tags, and `tag=café` misses the NFD one, while `q`
    folds both."""
    create(api, user, title="nfc", tags=["caf\u00e9"])
    create(api, user, title="nfd", tags=["cafe\u0301"])
    tags = api.get("/tags", headers=user.headers).json()
    assert len(tags) == 1, tags
    listed = titles(api.get("/notes", params={"tag": "caf\u00e9"}, headers=user.headers))
    assert sorted(listed) == ["nfc", "nfd"]


def test_tag_length_is_counted_as_sent(api: httpx.Client, user: ApiUser) -> None:
    """A 30-character tag is within the 50-character limit, though lower-casing "İ" makes
    two characters of each (an "i" and a combining dot above, U+0307): the tag is stored as
    60. Sent back as read (a PUT of the note, a PATCH of its tags, a filter by the name
    /tags gives), each of those pairs is the one character it was: the same tag, no 422."""
    dotted = "\u0130" * 30
    response = api.post("/notes", json={"title": "t", "tags": [dotted]}, headers=user.headers)
    assert response.status_code == 201, response.text
    note = response.json()
    (stored,) = note["tags"]
    assert stored == dotted.lower() and len(stored) == 60
    assert api.get("/tags", headers=user.headers).json() == [{"name": stored, "count": 1}]
    url = f"/notes/{note['id']}"
    editable = ("title", "content", "tags", "pinned", "archived", "color", "reminder")
    for write, body in (
        (api.put, {key: note[key] for key in editable}),
        (api.patch, {"tags": [stored]}),
    ):
        saved = write(url, json=body, headers=user.headers)
        assert saved.status_code == 200, saved.text
        assert saved.json()["tags"] == [stored] and saved.json()["version"] == 1
    listed = api.get("/notes", params={"tag": stored}, headers=user.headers)
    assert listed.status_code == 200, listed.text
    assert [n["id"] for n in listed.json()["items"]] == [note["id"]]
    too_long = api.post("/notes", json={"tags": ["i\u0307" * 51]}, headers=user.headers)
    assert_error(too_long, 422, "validation_error")


def test_the_tag_limit_counts_the_tags_a_note_keeps(api: httpx.Client, user: ApiUser) -> None:
    """API.md: a note has at most 50 tags, stored trimmed, lower-cased (and composed, NFC).
    Tags sent again in another case, with spaces or in another Unicode form are one tag:
    50 tags each sent twice are 50 tags, not a 422 for 100; 51 distinct ones are a 422."""
    distinct = [f"caf\u00e9 {i}" for i in range(MAX_TAGS)]
    again = [f" CAFE\u0301 {i} " for i in range(MAX_TAGS)]  # the same tags, decomposed
    created = api.post("/notes", json={"tags": distinct + again}, headers=user.headers)
    assert created.status_code == 201, created.text
    assert created.json()["tags"] == distinct
    url = f"/notes/{created.json()['id']}"
    for write in (api.patch, api.put):
        saved = write(url, json={"tags": again + distinct + ["new"]}, headers=user.headers)
        (detail,) = assert_error(saved, 422, "validation_error")["details"]
        assert detail["loc"] == ["body", "tags"], detail
        saved = write(url, json={"tags": again[::-1] + distinct}, headers=user.headers)
        assert saved.status_code == 200, saved.text
        assert saved.json()["tags"] == distinct[::-1]
    assert api.get("/tags", headers=user.headers).json() == sorted(
        ({"name": tag, "count": 1} for tag in distinct), key=lambda row: row["name"]
    )


def test_a_tag_filter_counts_each_tag_once(api: httpx.Client, user: ApiUser) -> None:
    """The same tag asked for in other cases and Unicode forms is one condition."""
    create(api, user, title="cafe", tags=["caf\u00e9"])
    variants = ["CAF\u00c9", " cafe\u0301 "] * MAX_TAG_FILTERS
    assert titles(api.get("/notes", params={"tag": variants}, headers=user.headers)) == ["cafe"]
    too_many = [f"t{i}" for i in range(MAX_TAG_FILTERS + 1)]
    listed = api.get("/notes", params={"tag": too_many}, headers=user.headers)
    (detail,) = assert_error(listed, 422, "validation_error")["details"]
    assert detail["loc"] == ["query", "tag"], detail


def test_paging_a_tag_filter_gives_each_note_once(api: httpx.Client, user: ApiUser) -> None:
    ids = set()
    for i in range(7):
        ids.add(create(api, user, title=f"n{i}", tags=["a", "b", f"t{i}"], pinned=i % 3 == 0)["id"])
    create(api, user, title="only a", tags=["a"])
    for sort in ("updated_at", "created_at", "title"):
        seen = [n["id"] for n in page_all(api, user, tag=["b", "a"], sort=sort, limit=2)]
        assert sorted(seen) == sorted(ids), sort


# --- sorting -------------------------------------------------------------------------------


def test_title_sort_pages_through_titles_equal_after_casefold(
    api: httpx.Client, user: ApiUser
) -> None:
    ids = {
        create(api, user, title=t)["id"]
        for t in ["Straße", "STRASSE", "strasse", "", "", "ǅ", "ǆ", "Ǆ"]
    }
    seen = [n["id"] for n in page_all(api, user, sort="title", limit=1)]
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)


def test_title_sort_treats_canonically_equal_titles_alike(api: httpx.Client, user: ApiUser) -> None:
    """The same title typed NFC ("École") and NFD ("E" + U+0301 "cole") sorts in two places:
    the NFD one among the "e"s, the NFC one after "z"."""
    create(api, user, title="\u00c9cole nfc")
    create(api, user, title="Fable")
    create(api, user, title="E\u0301cole nfd")
    listed = titles(api.get("/notes", params={"sort": "title"}, headers=user.headers))
    position = {t: i for i, t in enumerate(listed)}
    assert abs(position["\u00c9cole nfc"] - position["E\u0301cole nfd"]) == 1, listed


# --- terms follow the note ----------------------------------------------------------------


def test_search_terms_follow_title_tags_and_content_changes(
    api: httpx.Client, user: ApiUser
) -> None:
    note = create(api, user, title="alpha", content="bravo", tags=["charlie"])
    url = f"/notes/{note['id']}"
    assert (
        api.patch(url, json={"title": "delta", "tags": ["echo"]}, headers=user.headers).status_code
        == 200
    )
    assert (
        api.put(
            url,
            json={"title": "delta", "content": "foxtrot", "tags": ["echo"]},
            headers=user.headers,
        ).status_code
        == 200
    )
    for q, found in [
        ("alpha", False),
        ("bravo", False),
        ("charlie", False),
        ("delta", True),
        ("echo", True),
        ("foxtrot", True),
    ]:
        assert titles(api.get("/notes", params={"q": q}, headers=user.headers)) == (
            ["delta"] if found else []
        ), q
    api.delete(url, headers=user.headers)
    assert titles(api.get("/notes", params={"q": "delta"}, headers=user.headers)) == []
    assert titles(
        api.get("/notes", params={"q": "delta", "trashed": True}, headers=user.headers)
    ) == ["delta"]


def test_sync_paging_across_states_gives_each_note_once(api: httpx.Client, user: ApiUser) -> None:
    ids = set()
    for i in range(12):
        note = create(api, user, title=f"n{i}", pinned=i % 4 == 0, archived=i % 3 == 0)
        if i % 2:
            assert api.delete(f"/notes/{note['id']}", headers=user.headers).status_code == 204
        ids.add(note["id"])
    for sort in ("updated_at", "created_at", "title"):
        seen = [
            n["id"]
            for n in page_all(api, user, updated_since="2000-01-01T00:00:00Z", sort=sort, limit=3)
        ]
        assert sorted(seen) == sorted(ids) and len(seen) == len(ids), sort
        with_q = page_all(
            api, user, updated_since="2000-01-01T00:00:00Z", q="n1", sort=sort, limit=1
        )
        assert sorted(n["title"] for n in with_q) == ["n1", "n10", "n11"], sort


def test_queries_fold_case_width_ligatures_and_marks(api: httpx.Client, user: ApiUser) -> None:
    create(
        api,
        user,
        title="Straße",
        content="file İstanbul CAFÉ \U0001f389party iPhone用ケース 東京都の天気",
    )
    for q in [
        "strasse",
        "STRASSE",
        "straße",
        "ﬁle",
        "istanbul",
        "İSTANBUL",
        "\uff43\uff41\uff46\uff45",  # full-width "cafe"
        "cafe\u0301",
        "café",
        "party",
        "🎉 party",
        "iphone",
        "ケース",
        "天気",
        "京都",
        "iphone用",
        "ｹｰｽ",
    ]:
        assert titles(api.get("/notes", params={"q": q}, headers=user.headers)) == ["Straße"], q
    for q in ["ssa", "京天", "phone"]:
        assert titles(api.get("/notes", params={"q": q}, headers=user.headers)) == [], q
