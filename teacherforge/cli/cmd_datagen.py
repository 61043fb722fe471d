"""``teacherforge datagen``: documents → chunks → index → questions → paraphrases.

Without ``--config`` the built-in defaults apply: every supported format under ``--corpus`` is
read (``.txt .md .markdown .pdf .docx .html .htm .jsonl``; question sets are skipped). Rerunning a
finished or killed run resumes it. Every corpus file is accounted for on screen and in
``<run_dir>/load_report.jsonl``.
"""

from __future__ import annotations

import argparse

from teacherforge.cli.args import add_config_arguments, config_from_args

PARTIAL_EXIT = 3
NO_QUESTIONS_EXIT = 4
EXIT_CODES = f"""exit status:
  0  finished
  1  bad input (config, corpus path, ...), one line on stderr
  {PARTIAL_EXIT}  finished, but some corpus files failed to load (listed on screen and in load_report.jsonl)
  {NO_QUESTIONS_EXIT}  finished with 0 questions: nothing for the later stages (the reason is printed)
  130  interrupted (rerun to resume)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's options."""
    add_config_arguments(parser, config_required=False)
    parser.add_argument("--corpus", help="file or directory of documents (overrides datagen.corpus)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default=None,
        help="where LLM generation runs: this process or Ray workers (ray extra); overrides executor.kind",
    )
    parser.epilog = EXIT_CODES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def run(args: argparse.Namespace) -> int:
    """Load the config, run the datagen stage, return the exit status."""
    import sys

    from teacherforge.datagen.pipeline import run_datagen

    extra = [f"datagen.corpus={args.corpus}"] if args.corpus else []
    if args.executor:
        extra.append(f"executor.kind={args.executor}")
    config = config_from_args(args, extra)
    summary = run_datagen(config, progress=not args.no_progress)
    if summary.get("questions") == 0:
        print(
            f"teacherforge datagen: error: 0 questions from {summary.get('chunks', 0)} chunks "
            f"(datagen.generator={config.datagen.generator}; drops: {summary['question_drops'] or 'none'}); later "
            "stages need questions: try datagen.generator=cloze or a stronger datagen.llm",
            file=sys.stderr,
        )
        return NO_QUESTIONS_EXIT
    return PARTIAL_EXIT if summary["partial"] else 0
