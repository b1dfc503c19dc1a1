"""SMS segment counting: the encoding switch, the 160/153 and 70/67 limits, pairs never split."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.sms_segments import GSM7_BASIC, GSM7_EXTENDED, SmsSegments, count_segments

# 3GPP TS 23.038 default alphabet in code order, 0x00-0x7F; "\x1b" marks the escape to the extension table.
GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The extension table's characters and their codes after the escape.
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
                  "|": 0x40, "€": 0x65}
ESC = 0x1B
CYRILLIC = "я"  # in the BMP, not in GSM-7: one UCS-2 unit
EMOJI = "😀"    # outside the BMP: a surrogate pair, two UCS-2 units


def gsm(characters: int, segments: int) -> SmsSegments:
    return SmsSegments("GSM-7", characters, segments)


def ucs(characters: int, segments: int) -> SmsSegments:
    return SmsSegments("UCS-2", characters, segments)


# ---- the alphabet -----------------------------------------------------------------------------

def test_the_basic_alphabet_is_the_full_3gpp_table() -> None:
    assert len(GSM7_TABLE) == 128
    assert GSM7_BASIC == frozenset(GSM7_TABLE) - {"\x1b"}


def test_the_extension_table_is_the_ten_escaped_characters() -> None:
    assert GSM7_EXTENDED == frozenset(GSM7_EXTENSION)
    assert not GSM7_BASIC & GSM7_EXTENDED


@pytest.mark.parametrize("character", sorted(GSM7_BASIC))
def test_every_basic_character_stays_gsm7_and_takes_one_septet(character: str) -> None:
    assert count_segments(character) == gsm(1, 1)


@pytest.mark.parametrize("character", sorted(GSM7_EXTENDED))
def test_every_extension_character_takes_two_septets(character: str) -> None:
    assert count_segments(character) == gsm(2, 1)


@pytest.mark.parametrize("character", ["ç", "á", "Ê", "’", "“", "`", "\t", "\x1b", "я", "中", EMOJI])
def test_one_character_outside_gsm7_switches_the_whole_text_to_ucs2(character: str) -> None:
    assert count_segments("Hello" + character).encoding == "UCS-2"


def test_an_empty_text_is_no_segment_because_it_cannot_be_sent() -> None:
    assert count_segments("") == gsm(0, 0)


# ---- GSM-7 limits -----------------------------------------------------------------------------

@pytest.mark.parametrize(("length", "segments"), [
    (1, 1), (160, 1), (161, 2), (153 * 2, 2), (153 * 2 + 1, 3), (153 * 3, 3), (153 * 3 + 1, 4),
])
def test_gsm7_fits_160_septets_in_one_segment_and_153_in_each_part(length: int, segments: int) -> None:
    assert count_segments("a" * length) == gsm(length, segments)


def test_extension_characters_count_two_towards_the_single_segment_limit() -> None:
    assert count_segments("€" * 80) == gsm(160, 1)
    assert count_segments("€" * 80 + "a") == gsm(161, 2)
    assert count_segments("a" * 158 + "{") == gsm(160, 1)
    assert count_segments("a" * 159 + "{") == gsm(161, 2)


def test_an_escape_pair_that_would_straddle_a_part_boundary_moves_to_the_next_part() -> None:
    # 152 + 2 + 152 = 306 septets: two parts by arithmetic, three because "€" cannot be split.
    assert count_segments("a" * 152 + "€" + "a" * 152) == gsm(306, 3)


def test_an_escape_pair_that_ends_exactly_on_a_part_boundary_stays() -> None:
    assert count_segments("a" * 151 + "€" + "a" * 153) == gsm(306, 2)


def test_a_part_of_only_escape_pairs_holds_76_of_them() -> None:
    # 76 pairs = 152 septets; the 77th would need 154.
    assert count_segments("^" * 152) == gsm(304, 2)
    assert count_segments("^" * 153) == gsm(306, 3)


# ---- UCS-2 limits -----------------------------------------------------------------------------

@pytest.mark.parametrize(("length", "segments"), [
    (1, 1), (70, 1), (71, 2), (67 * 2, 2), (67 * 2 + 1, 3), (67 * 3, 3), (67 * 3 + 1, 4),
])
def test_ucs2_fits_70_units_in_one_segment_and_67_in_each_part(length: int, segments: int) -> None:
    assert count_segments(CYRILLIC * length) == ucs(length, segments)


def test_extension_characters_count_one_unit_in_ucs2() -> None:
    assert count_segments("€" * 69 + CYRILLIC) == ucs(70, 1)


def test_an_emoji_counts_two_utf16_units() -> None:
    assert count_segments(EMOJI) == ucs(2, 1)
    assert count_segments(EMOJI * 35) == ucs(70, 1)
    assert count_segments(EMOJI * 36) == ucs(72, 2)
    assert count_segments("a" * 69 + EMOJI) == ucs(71, 2)


def test_an_emoji_that_would_straddle_a_part_boundary_moves_to_the_next_part() -> None:
    # 66 + 2 + 66 = 134 units: two parts by arithmetic, three because the surrogate pair cannot be split.
    assert count_segments(CYRILLIC * 66 + EMOJI + CYRILLIC * 66) == ucs(134, 3)


def test_an_emoji_that_ends_exactly_on_a_part_boundary_stays() -> None:
    assert count_segments(CYRILLIC * 65 + EMOJI + CYRILLIC * 67) == ucs(134, 2)


def test_a_part_of_only_emoji_holds_33_of_them() -> None:
    assert count_segments(EMOJI * 66) == ucs(132, 2)
    assert count_segments(EMOJI * 67) == ucs(134, 3)


# ---- properties against a reference that encodes for real ---------------------------------------

def _code_units(text: str) -> tuple[Literal["GSM-7", "UCS-2"], list[int], set[int]]:
    """The encoded units and the positions where a part may not begin (the second half of a pair)."""
    if all((ch in GSM7_TABLE and ch != "\x1b") or ch in GSM7_EXTENSION for ch in text):
        septets: list[int] = []
        for ch in text:
            septets.extend([ESC, GSM7_EXTENSION[ch]] if ch in GSM7_EXTENSION else [GSM7_TABLE.index(ch)])
        glued = {i + 1 for i in range(len(septets) - 1) if septets[i] == ESC}
        return "GSM-7", septets, glued
    raw = text.encode("utf-16-be", "surrogatepass")
    units = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    glued = {i + 1 for i, unit in enumerate(units) if 0xD800 <= unit <= 0xDBFF}
    return "UCS-2", units, glued


def _fewest_parts(text: str) -> SmsSegments:
    """Brute force: the fewest parts over every legal set of cut points, by dynamic programming."""
    encoding, units, glued = _code_units(text)
    single, part = (160, 153) if encoding == "GSM-7" else (70, 67)
    total = len(units)
    if total <= single:
        return SmsSegments(encoding, total, 1 if total else 0)
    fewest = [0] + [total + 1] * total
    for end in range(1, total + 1):
        for start in range(max(0, end - part), end):
            if start not in glued and end not in glued:
                fewest[end] = min(fewest[end], fewest[start] + 1)
    return SmsSegments(encoding, total, fewest[total])


def _texts(alphabet: st.SearchStrategy[str], longest: int) -> st.SearchStrategy[str]:
    """Lengths drawn evenly rather than mostly short, so that part boundaries are crossed often."""
    return st.integers(0, longest).flatmap(lambda n: st.text(alphabet, min_size=n, max_size=n))


GSM_CHARS = st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENDED))
# Dense in two-septet and two-unit characters, so that pairs land on boundaries.
GSM_TEXTS = _texts(st.one_of(st.just("a"), st.just("€"), GSM_CHARS), 330)
OTHER_CHARS = st.one_of(st.sampled_from(["ç", "’", "中", "🎉", "𝄞"]), st.characters(exclude_categories=["Cs"]))
UCS_TEXTS = _texts(st.one_of(st.just(CYRILLIC), st.just(EMOJI), GSM_CHARS, OTHER_CHARS), 150)
# Runs such as 151 x "a", 3 x "€", 40 x "я": offsets that put a pair on a boundary are common.
RUN_TEXTS = st.lists(st.tuples(st.sampled_from(["a", "€", CYRILLIC, EMOJI]), st.integers(1, 160)), max_size=4).map(
    lambda runs: "".join(character * count for character, count in runs))
TEXTS = st.one_of(GSM_TEXTS, UCS_TEXTS, RUN_TEXTS)


@given(st.one_of(GSM_TEXTS, RUN_TEXTS))
def test_gsm7_count_equals_the_fewest_parts_of_a_real_encoding(text: str) -> None:
    assert count_segments(text) == _fewest_parts(text)


@given(st.one_of(UCS_TEXTS, RUN_TEXTS))
def test_mixed_text_count_equals_the_fewest_parts_of_a_real_encoding(text: str) -> None:
    assert count_segments(text) == _fewest_parts(text)


@given(TEXTS, st.text(st.sampled_from(["a", "€", CYRILLIC, EMOJI, "ç"]), min_size=1, max_size=3))
def test_appending_characters_never_lowers_the_segment_count(text: str, more: str) -> None:
    assert count_segments(text + more).segments >= count_segments(text).segments


@given(TEXTS)
def test_each_prefix_needs_no_more_segments_than_the_text(text: str) -> None:
    counts = [count_segments(text[:n]).segments for n in range(len(text) + 1)]
    assert counts == sorted(counts)
