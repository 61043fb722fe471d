"""The action protocol: parsing, malformed reasons, observations, charset normalisation."""

from __future__ import annotations

import pytest

from teacherforge.envs.prompts import render_system_prompt
from teacherforge.envs.protocol import (
    CHARSET,
    MALFORMED_REASONS,
    Tags,
    close_open_action,
    format_information,
    format_malformed,
    in_charset,
    parse_action,
    to_charset,
)
from teacherforge.types import Hit


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("<search>oxygen tank</search>", "search", "oxygen tank"),
        ("<think>plan</think>\n<search>  oxygen tank \n</search>", "search", "oxygen tank"),
        (
            "<think>maybe <answer>x</answer> or <search>y</search></think><search>real</search>",
            "search",
            "real",
        ),
        ("Let me look.\n<search>q</search> trailing words", "search", "q"),
        ("<answer>Jim Lovell</answer>", "answer", "Jim Lovell"),
        ("<think>done</think><answer></answer>", "answer", ""),
        ("<answer>a <b> c</answer>", "answer", "a <b> c"),
    ],
)
def test_valid_turns(text, kind, value):
    action = parse_action(text)
    assert action.kind == kind and action.malformed is None
    assert (action.query if kind == "search" else action.answer) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no_tag"),
        ("just words", "no_tag"),
        ("<think>only thinking</think>", "no_tag"),
        ("<search>a</search><search>b</search>", "two_actions"),
        ("<search>a</search><answer>b</answer>", "two_actions"),
        ("<search><answer>x</answer></search>", "two_actions"),
        ("<search>   </search>", "empty_query"),
        ("<search>" + "x" * 513 + "</search>", "query_too_long"),
        ("<search>open", "unclosed_tag"),
        ("close</answer>", "unclosed_tag"),
        ("<search>mixed</answer>", "unclosed_tag"),
        ("</search>backwards<search>", "unclosed_tag"),
        ("<think>unclosed think <search>q</search>", "unclosed_tag"),
    ],
)
def test_malformed_reasons(text, reason):
    action = parse_action(text)
    assert action.kind == "malformed" and action.malformed == reason
    assert reason in MALFORMED_REASONS
    assert action.query is None and action.answer is None


def test_query_limit_is_configurable_and_inclusive():
    assert parse_action("<search>" + "x" * 512 + "</search>").kind == "search"
    assert parse_action("<search>abcd</search>", max_query_chars=3).malformed == "query_too_long"


def test_custom_tags():
    tags = Tags(think="reason", search="lookup", answer="final", information="docs")
    assert parse_action("<reason>r</reason><lookup>q</lookup>", tags).query == "q"
    assert parse_action("<search>q</search>", tags).malformed == "no_tag"
    assert format_information([Hit("c", 1.0, 1, "t")], tags).strip().startswith("<docs>")
    assert tags.stop_strings == ("</lookup>", "</final>")
    prompt = render_system_prompt(None, tags, max_turns=5, top_k=2)
    assert "<lookup>" in prompt and "<final>" in prompt and "5 turns" in prompt and "{" not in prompt


def test_close_open_action_restores_a_stripped_stop_string():
    assert close_open_action("<search>q") == "<search>q</search>"
    assert close_open_action("<think>a</think><answer>b") == "<think>a</think><answer>b</answer>"
    assert close_open_action("no tags") == "no tags"
    assert close_open_action("<search>q</search>") == "<search>q</search>"


def test_information_block_is_numbered_and_bounded():
    hits = [Hit(f"c{i}", 1.0 - i / 10, i, f"passage {i} " + "word " * 2000) for i in range(1, 4)]
    block = format_information(hits, max_chars=1000)
    assert len(block) <= 1000
    assert block.startswith("\n\n<information>\n[1] passage 1") and block.endswith("</information>\n\n")
    assert "[2] passage 2" in block and "[3] passage 3" in block
    assert "No results." in format_information([])
    assert len(format_malformed("two_actions", max_chars=300)) <= 300


def test_normalize_text_maps_into_the_charset():
    raw = "a\r\nb\rc\x00d\x1be\u200bf\u00a0g\U0001f600h\ud800i\ue000j\u2028k\tl"
    out = to_charset(raw)
    assert in_charset(out)
    assert out == "a\nb\ncde" + "f g\ufffdh\ufffdi\ufffdj\nk\tl"
    assert to_charset(out) == out  # idempotent
    assert set(out) <= set(CHARSET)


def test_charset_is_printable_bmp():
    assert len(CHARSET) == len(set(CHARSET)) > 50_000
    assert all(ord(c) < 0x10000 for c in CHARSET)
    assert all(c.isprintable() or c in "\n\t" for c in CHARSET)
