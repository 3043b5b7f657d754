"""The shared parser, on crafted responses (reference section 3, steps 1-4, 8, 9)."""

from __future__ import annotations

import pytest

from medix_r1.parsing import (
    THINK,
    THINKING,
    extract_answer,
    is_invalid_answer,
    is_well_formed,
    normalize_tag_whitespace,
    parse_response,
    predicted_modality,
    split_solution,
    strip_reasoning,
)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("< thinking >a</ thinking >", "<thinking>a</thinking>"),  # spaces inside tags vanish
        ("<X_RAY>\n\n<thinking>", "<X_RAY><thinking>"),  # newlines between tags vanish
        ("size 3 / 4 cm", "size 3/4 cm"),  # slashes in prose are joined too, as published
        ("a  <  b", "a<b"),
        ("no tags", "no tags"),
    ],
)
def test_normalize_tag_whitespace(raw: str, normalized: str) -> None:
    assert normalize_tag_whitespace(raw) == normalized


@pytest.mark.parametrize(
    ("solution", "modality", "answer"),
    [
        ("<X_RAY> Pneumothorax.", "<X_RAY>", "Pneumothorax"),
        ("<X_RAY>  ..Left lung..  ", "<X_RAY>", "Left lung"),  # whitespace, then dots, stripped
        ("<CT_SCAN> a > b", "<CT_SCAN>", "a > b"),  # only the first '>' splits
        ("  <MRI_SCAN> x", "  <MRI_SCAN>", "x"),  # the modality part is not stripped
        ("untagged answer", "untagged answer>", None),  # no '>' at all: no reference answer
        ("<OTHER>", "<OTHER>", ""),
    ],
)
def test_split_solution(solution: str, modality: str, answer: str | None) -> None:
    assert split_solution(solution) == (modality, answer)


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("<thinking>x</thinking><answer> Left lung. </answer>", "Left lung"),
        ("<answer>first</answer><answer>second</answer>", "first"),  # first block wins
        ("<answer>multi\nline</answer>", "multi\nline"),  # content spans lines
        ("<answer></answer>", ""),
        ("<answer>unclosed", "<answer>unclosed"),  # no closed block: the whole response
        ("  ...free text...  ", "free text"),
        (". . x . .", " . x . "),  # strip(whitespace) then strip('.') once each, as published
    ],
)
def test_extract_answer(response: str, answer: str) -> None:
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("answer", "invalid"),
    [
        ("", True),
        ("B", True),  # bare option letters never score
        ("Yes", False),
        ("No", False),
        ("Answer: B", True),  # ':' anywhere
        ("is it?", True),  # '?' anywhere
        ("fill __ in", True),  # '__' anywhere
        ("a_b", False),  # one underscore is fine
        ("T2-weighted", False),
    ],
)
def test_is_invalid_answer(answer: str, invalid: bool) -> None:
    assert is_invalid_answer(answer) is invalid


@pytest.mark.parametrize(
    ("response", "ok"),
    [
        ("<X_RAY><thinking>a</thinking><answer>b</answer>", True),
        ("<X_RAY><thinking>a</thinking>\n<answer>b</answer>\n", True),  # trailing whitespace stripped
        ("<thinking>a</thinking><answer>b</answer> extra", False),  # text after the final </answer>
        ("<thinking>a</thinking><answer>b</answer><answer>c</answer>", True),  # non-greedy groups stretch
        ("<thinking>a</thinking>text<answer>b</answer>", False),  # only whitespace may sit between blocks
        (
            "<thinking>a</thinking>x</thinking><answer>b</answer>",
            True,
        ),  # reasoning may stretch to a later close
        ("<answer>b</answer>", False),  # no reasoning block
        ("<thinking>a</thinking>", False),  # no answer block
        ("<think>a</think><answer>b</answer>", False),  # wrong tag for this format
        ("<thinking><thinking>a</thinking><answer>b</answer>", True),
    ],
)
def test_is_well_formed_thinking(response: str, ok: bool) -> None:
    assert is_well_formed(response, THINKING) is ok


def test_think_variant() -> None:
    assert is_well_formed("<CT_SCAN><think>a</think><answer>b</answer>", THINK)
    assert predicted_modality("<CT_SCAN><think>a</think>", THINK) == "<CT_SCAN>"
    assert predicted_modality("<CT_SCAN><think>a</think>", THINKING) is None


def test_parse_response_detects_tag_and_keeps_raw_reasoning() -> None:
    parsed = parse_response("<MRI_SCAN>\n<think> T2 bright, 3 / 4 cm </think>\n<answer> Cyst. </answer>")
    assert parsed.modality == "<MRI_SCAN>"
    assert parsed.reasoning == "T2 bright, 3 / 4 cm"
    assert parsed.answer == "Cyst"
    assert parsed.well_formed is True
    assert parsed.modality_name == "<MRI_SCAN>"


def test_parse_response_malformed() -> None:
    parsed = parse_response("I think it is a cyst")
    assert (parsed.modality, parsed.reasoning, parsed.answer, parsed.well_formed) == (
        None,
        None,
        "I think it is a cyst",
        False,
    )
    assert parse_response("<mri><thinking>x</thinking><answer>y</answer>").modality_name == "<MRI_SCAN>"
    assert parse_response("<wat><thinking>x</thinking><answer>y</answer>").modality_name is None


@pytest.mark.parametrize(
    ("text", "stripped"),
    [
        ("<think>r</think>final", "final"),
        ("<thinking>r</thinking> final ", "final"),
        ("<think>a</think><thinking>b</thinking>last", "last"),
        ("<think>a</think>mid</think>end", "end"),  # the last closing tag counts
        ("no reasoning", "no reasoning"),
    ],
)
def test_strip_reasoning(text: str, stripped: str) -> None:
    assert strip_reasoning(text) == stripped
