"""Options every stage command shares: ``--config``, ``--set KEY=VALUE`` (repeatable), ``--run-dir``,
and convenience flags that are aliases of one ``--set`` each (:func:`alias_overrides`)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any


def add_config_arguments(
    parser: argparse.ArgumentParser,
    default_config: str | None = None,
    *,
    config_required: bool | None = None,
    run_dir: bool = True,
) -> None:
    """``--config``, ``--set KEY=VALUE`` (repeatable) and, unless ``run_dir=False``, ``--run-dir``.

    ``--config`` is required when there is no ``default_config`` unless ``config_required=False``
    (then the built-in defaults apply).
    """
    required = default_config is None if config_required is None else config_required
    parser.add_argument(
        "--config",
        default=default_config,
        required=required,
        help="preset name (e.g. quickstart) or YAML path"
        + ("" if required or default_config else " (default: built-in defaults)"),
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set retrieval.kind=hybrid (repeatable)",
    )
    if run_dir:
        parser.add_argument("--run-dir", help="run directory (default runs/<name>)")


def add_resume_argument(parser: argparse.ArgumentParser) -> None:
    """``--resume`` of the training commands (continue from the newest checkpoint)."""
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint even if settings changed (a run killed with the same "
        "settings continues without it)",
    )


def config_from_args(args: argparse.Namespace, extra: list[str] | None = None) -> Any:
    """The validated :class:`teacherforge.config.Config` the options describe (plus ``extra`` overrides)."""
    from teacherforge.config import load_config

    run_dir = getattr(args, "run_dir", None)
    overrides = list(args.overrides) + ([f"run_dir={run_dir}"] if run_dir else []) + list(extra or [])
    return load_config(args.config, overrides)


def alias_overrides(args: argparse.Namespace, aliases: Mapping[str, str]) -> list[str]:
    """``KEY=VALUE`` overrides for the convenience flags that were given (``None`` = not given).

    ``aliases`` maps an option's ``dest`` to its config key, so ``--top-k 2`` with
    ``{"top_k": "retrieval.top_k"}`` becomes ``retrieval.top_k=2``; pass the result as
    ``extra`` to :func:`config_from_args` (a flag wins over ``--set`` of the same key).
    """
    return [
        f"{key}={getattr(args, dest)}" for dest, key in aliases.items() if getattr(args, dest) is not None
    ]
