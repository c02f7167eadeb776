"""Word search that works without `$text`: terms stored per note, prefix-matched."""

import re

from smartnote.search import (
    MAX_UNSPACED_TERMS,
    index_terms,
    query_words,
    terms_filter,
    words,
)


def test_words_are_folded_case_and_accents() -> None:
    assert words("Café CRÈME, naïve-Über 42") == ["cafe", "creme", "naive", "uber", "42"]


def test_dotless_and_stroked_letters_fold_like_accents() -> None:
    # casefold keeps Turkish dotless i (U+0131, the lower case of "I"), NFKD splits no stroke
    # off a letter.
    assert words("KIRMIZI k\u0131rm\u0131z\u0131 İzmir Łódź KØBENHAVN Đakovo") == [
        "kirmizi",
        "kirmizi",
        "izmir",
        "lodz",
        "kobenhavn",
        "dakovo",
    ]


def test_index_terms_are_distinct_and_keep_first_order() -> None:
    assert index_terms(["Buy milk", "milk and BREAD"]) == "buy milk and bread"


def test_index_terms_keep_every_word_of_a_long_text() -> None:
    # A note's 5001st distinct word used to be dropped, and every later text with it.
    text = " ".join(f"w{i}" for i in range(20_000))
    terms = index_terms(["title", text, "zeppelin"]).split(" ")
    assert len(terms) == 20_002 and terms[-2:] == ["w19999", "zeppelin"]


def test_query_is_escaped_never_a_raw_regex() -> None:
    condition = terms_filter("a.*b (c|d)")
    patterns = [part["terms"]["$regex"] for part in condition["$and"]]
    assert patterns == ["(?:^| )a", "(?:^| )b", "(?:^| )c", "(?:^| )d"]
    for pattern in patterns:
        assert re.fullmatch(r"\(\?:\^\| \)\w+", pattern)


def test_query_words_match_terms_by_prefix_at_a_word_start() -> None:
    terms = index_terms(["Meeting notes", "Café budget"])
    for q, found in [("meet", True), ("cafe bud", True), ("eting", False), ("notesx", False)]:
        patterns = [part["terms"]["$regex"] for part in terms_filter(q)["$and"]]
        assert all(re.search(pattern, terms) for pattern in patterns) is found, q


def test_query_without_words_matches_nothing() -> None:
    assert terms_filter("!!! ...") == {"_id": {"$in": []}}


def test_query_words_are_deduplicated() -> None:
    assert query_words("Milk milk MILK bread") == ["milk", "bread"]


def _found(terms: str, q: str) -> bool:
    patterns = [part["terms"]["$regex"] for part in terms_filter(q)["$and"]]
    return all(re.search(pattern, terms) for pattern in patterns)


def test_unspaced_scripts_are_cut_into_character_pairs() -> None:
    assert words("東京都") == ["東京", "京都", "都"]
    assert words("iPhone用ケース") == ["iphone", "用ケ", "ケー", "ース", "ス"]


def test_a_word_inside_a_run_of_chinese_or_japanese_is_found() -> None:
    # One `\w+` run: it used to be one word, found only by its first characters (and cut at 64).
    terms = index_terms(["東京都の天気は晴れ", "ｹｰｽを買う"])  # half-width kana folds to full
    for q in ["天気", "京都", "晴", "東京都", "天気 晴れ", "ケース"]:
        assert _found(terms, q), q
    for q in ["大阪", "雨", "天晴"]:
        assert not _found(terms, q), q
    long_run = "的" * 10 + "一二三四五六七八九十" * 10 + "最後"
    assert _found(index_terms([long_run]), "最後")


def test_unspaced_terms_are_capped_and_the_other_words_kept() -> None:
    text = "".join(chr(0x4E00 + i % 20_000) + chr(0x4E00 + i // 20_000) for i in range(200_000))
    terms = index_terms([text, "zeppelin"]).split(" ")
    assert len(terms) == MAX_UNSPACED_TERMS + 1 and terms[-1] == "zeppelin"
