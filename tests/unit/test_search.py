"""Word search that works without `$text`: terms stored per note, prefix-matched."""

import re

from smartnote.search import MAX_TERMS_PER_NOTE, index_terms, query_words, terms_filter, words


def test_words_are_folded_case_and_accents() -> None:
    assert words("Café CRÈME, naïve-Über 42") == ["cafe", "creme", "naive", "uber", "42"]


def test_index_terms_are_distinct_and_keep_first_order() -> None:
    assert index_terms(["Buy milk", "milk and BREAD"]) == ["buy", "milk", "and", "bread"]


def test_index_terms_are_capped_per_note() -> None:
    text = " ".join(f"w{i}" for i in range(MAX_TERMS_PER_NOTE + 500))
    assert len(index_terms([text])) == MAX_TERMS_PER_NOTE


def test_query_is_escaped_never_a_raw_regex() -> None:
    condition = terms_filter("a.*b (c|d)")
    patterns = [part["terms"]["$regex"] for part in condition["$and"]]
    assert patterns == ["^a", "^b", "^c", "^d"]
    for pattern in patterns:
        assert re.fullmatch(r"\^\w+", pattern)


def test_query_without_words_matches_nothing() -> None:
    assert terms_filter("!!! ...") == {"_id": {"$in": []}}


def test_query_words_are_deduplicated() -> None:
    assert query_words("Milk milk MILK bread") == ["milk", "bread"]
