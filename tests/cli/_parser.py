"""The option strings of one command's parser (argparse has no public walk of its sub-parsers)."""

from __future__ import annotations

from teacherforge.cli import build_parser


def command_options(words: tuple[str, ...]) -> set[str]:
    """Every option string ``teacherforge <words>`` accepts."""
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[words[0]]
    if len(words) > 1:
        sub = sub._subparsers._group_actions[0].choices[words[1]]
    return {option for action in sub._actions for option in action.option_strings}
