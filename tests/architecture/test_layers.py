"""The layer rules hold on the real tree, and a forbidden import planted in any layer breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture import layers

# (folder, file name, source, line of the forbidden import, imported module, rule)
PLANTED = [
    (
        "rewards",
        "planted.py",
        '"""x"""\n\nfrom teacherforge.types import Hit\n',
        3,
        "teacherforge.types.Hit",
        "rewards import nothing of ours",
    ),
    (
        "rewards",
        "planted.py",
        "def lazy():\n    import torch.nn\n",
        2,
        "torch.nn",
        "rewards import nothing heavy",
    ),
    (
        "teacherforge",
        "planted.py",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from teacherforge.rewards import Rubric\n",
        4,
        "teacherforge.rewards.Rubric",
        "core imports no stage",
    ),
    (
        "teacherforge/llm",
        "planted.py",
        "from ..datagen import teacher\n",
        1,
        "teacherforge.datagen.teacher",
        "core imports no stage",
    ),
    (
        "datagen",
        "planted.py",
        "def lazy():\n    from ..envs import protocol\n",
        2,
        "teacherforge.envs.protocol",
        "datagen imports neither envs nor trainers",
    ),
    (
        "datagen",
        "planted.py",
        "import teacherforge.trainers.metrics as m\n",
        1,
        "teacherforge.trainers.metrics",
        "datagen imports neither envs nor trainers",
    ),
    (
        "envs",
        "planted.py",
        'import importlib\n\nimportlib.import_module("teacherforge.trainers.grpo")\n',
        3,
        "teacherforge.trainers.grpo",
        "envs import neither datagen nor trainers",
    ),
    (
        "envs",
        "planted_datagen.py",
        "from teacherforge.datagen import chunking\n",
        1,
        "teacherforge.datagen.chunking",
        "envs import neither datagen nor trainers",
    ),
    (
        "trainers",
        "planted_datagen.py",
        "def f():\n    from teacherforge.datagen.teacher import run_teacher\n",
        2,
        "teacherforge.datagen.teacher.run_teacher",
        "trainers import no datagen",
    ),
    (
        "trainers",
        "planted.py",
        "from teacherforge.cli.pipeline import run_pipeline\n",
        1,
        "teacherforge.cli.pipeline.run_pipeline",
        "only the command layer imports the command layer",
    ),
]


def _keys(violations) -> set[tuple[str, int, str, str]]:
    return {(str(v.path), v.line, v.imported, v.rule) for v in violations}


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """A copy of pyproject.toml and every mapped package folder (sources only)."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copy(layers.ROOT / "pyproject.toml", root / "pyproject.toml")
    for folder in layers.package_dirs(layers.ROOT).values():
        shutil.copytree(
            folder, root / folder.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.jinja")
        )
    return root


@pytest.fixture(scope="module")
def baseline(tree_copy) -> set[tuple[str, int, str, str]]:
    """The copy's own violations (none once the tree is clean), subtracted from each planted run."""
    return _keys(layers.check(tree_copy))


def test_real_tree_keeps_every_layer_rule():
    violations = layers.check(layers.ROOT)
    assert not violations, "\n".join(map(str, violations))


def test_every_package_folder_is_scanned():
    modules = dict(layers.iter_modules(layers.ROOT))
    for module in (
        "teacherforge.cli.pipeline",
        "teacherforge.envs.search_env",
        "teacherforge.rewards.answer",
    ):
        assert module in modules
    assert {layers.layer_of(m) for m in modules} >= {"cli", "core", "envs", "rewards", "datagen", "trainers"}


@pytest.mark.parametrize(
    ("folder", "name", "source", "line", "imported", "rule"),
    [pytest.param(*case, id=f"{case[0]}:{case[4]}") for case in PLANTED],
)
def test_planted_forbidden_import_is_reported(
    tree_copy, baseline, folder, name, source, line, imported, rule
):
    planted = tree_copy / folder / name
    planted.write_text(source, encoding="utf-8")
    try:
        new = _keys(layers.check(tree_copy)) - baseline
    finally:
        planted.unlink()
    assert new == {(f"{folder}/{name}", line, imported, rule)}


def test_same_layer_and_allowed_imports_pass(tree_copy, baseline):
    allowed = {
        "rewards": "from .answer import f1\nfrom teacherforge.rewards.trajectory import Trajectory\nimport json\n",
        "trainers": "from teacherforge.rewards import Rubric\nfrom teacherforge.envs import protocol\n",
        "datagen": "from teacherforge.rewards.answer import strip_citations\nfrom teacherforge import types\n",
        "teacherforge/cli": "from teacherforge.trainers import grpo\nfrom teacherforge.datagen import teacher\n",
    }
    for folder, source in allowed.items():
        (tree_copy / folder / "allowed.py").write_text(source, encoding="utf-8")
    try:
        assert _keys(layers.check(tree_copy)) == baseline
    finally:
        for folder in allowed:
            (tree_copy / folder / "allowed.py").unlink()


def test_command_line_prints_violations_and_exits_1(tree_copy):
    planted = tree_copy / "envs" / "planted.py"
    planted.write_text("x = 1\nfrom teacherforge.trainers import grpo\n", encoding="utf-8")
    try:
        proc = subprocess.run(
            [sys.executable, str(layers.ROOT / "tests/architecture/layers.py"), str(tree_copy)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        planted.unlink()
    assert proc.returncode == 1
    assert (
        "envs/planted.py:2: envs may not import teacherforge.trainers.grpo (envs import neither datagen nor trainers)"
        in proc.stdout.splitlines()
    )
