"""Word search that works without `$text`: terms stored per note, prefix-matched."""

import re

from smartnote.search import index_terms, query_words, terms_filter, words


def test_words_are_folded_case_and_accents() -> None:
    assert words("Café CRÈME, naïve-Über 42") == ["cafe", "creme", "naive", "uber", "42"]


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
