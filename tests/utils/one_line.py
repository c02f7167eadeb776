"""Texts a name or a title (one line of text, `smartnote.models.text`) must or may hold."""

from __future__ import annotations

# Not one line of text: C0 and C1 control characters, line and paragraph separators, bidi
# embeddings, overrides and isolates.
NOT_ONE_LINE = [
    "a\x00b",
    "line\nbreak",
    "tab\there",
    "bell\x07",
    "del\x7f",
    "n\x85el",  # NEL inside: around a name, it is trimmed as a space is
    "csi\x9b31m",
    "line\u2028separator",
    "paragraph\u2029separator",
    "invoice\u202egpj.exe",
    "embedded\u202bname",
    "isolate\u2066d\u2069",
]
# Nothing a reader can see: not a non-empty name.
INVISIBLE = ["\u200b", " \u200b ", "\u200d\u200c", "\u2060\ufeff", "\u00ad", "\u3164"]
# One line that a reader sees, with what scripts and emoji need: kept as sent.
VISIBLE = [
    "קבלה",  # right to left, no bidi control needed
    "\u0645\u062d\u0645\u062f\u200f",  # an Arabic name ending in a right-to-left mark
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: a zero-width non-joiner
    "\U0001f469\u200d\U0001f4bb Ada",  # an emoji joined with ZWJ
]
