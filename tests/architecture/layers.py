"""The layer rules of the package, checked over the source with ``ast``.

Why not import-linter: its graph builder walks the root package's folder only, so in an
editable install it never sees the stage folders that ``[tool.setuptools] package-dir`` maps
into ``teacherforge.*`` (``envs/`` → ``teacherforge.envs``, ...). This checker reads that
mapping from ``pyproject.toml``, turns every ``.py`` file into its dotted module name, and
checks every import in it: top-level, inside functions (lazy imports count), under
``if TYPE_CHECKING:``, relative ones (resolved against the module), and
``importlib.import_module("...")`` calls with a literal name.

Run ``python tests/architecture/layers.py [ROOT]``: it prints one line per violation,
``file:line: <layer> may not import <module> (<rule>)``, and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]

#: Layer name -> the dotted prefix its modules live under (the longest matching prefix wins).
LAYERS: dict[str, str] = {
    "cli": "teacherforge.cli",
    "envs": "teacherforge.envs",
    "rewards": "teacherforge.rewards",
    "datagen": "teacherforge.datagen",
    "trainers": "teacherforge.trainers",
    "configs": "teacherforge.configs",
    "core": "teacherforge",
}
STAGES = ("teacherforge.envs", "teacherforge.rewards", "teacherforge.datagen", "teacherforge.trainers")
#: Deep-learning frameworks the reward library must stay free of.
HEAVY = ("torch", "transformers", "trl", "peft", "accelerate", "vllm", "unsloth")


@dataclass(frozen=True)
class Rule:
    """``layer`` may not import any module under one of ``forbidden`` (its own modules excepted)."""

    name: str
    layer: str
    forbidden: tuple[str, ...]


#: Every contract; only the command layer (``teacherforge/cli/``) may import every other layer.
RULES: tuple[Rule, ...] = (
    Rule("rewards import nothing of ours", "rewards", ("teacherforge",)),
    Rule("rewards import nothing heavy", "rewards", HEAVY),
    Rule("core imports no stage", "core", STAGES),
    Rule(
        "datagen imports neither envs nor trainers", "datagen", ("teacherforge.envs", "teacherforge.trainers")
    ),
    Rule(
        "envs import neither datagen nor trainers", "envs", ("teacherforge.datagen", "teacherforge.trainers")
    ),
    Rule("trainers import no datagen", "trainers", ("teacherforge.datagen",)),
    *(Rule("only the verifiers adapter imports verifiers", layer, ("verifiers",)) for layer in LAYERS),
    *(
        Rule("only the command layer imports the command layer", layer, ("teacherforge.cli",))
        for layer in LAYERS
        if layer != "cli"
    ),
)
#: ``(module, imported prefix)`` pairs allowed despite a rule: integration modules, named here.
EXCEPTIONS: frozenset[tuple[str, str]] = frozenset(
    {
        # the search task as a verifiers environment, for verifiers and prime-rl users
        ("teacherforge.envs.verifiers_env", "verifiers"),
    }
)


@dataclass(frozen=True)
class Violation:
    """One forbidden import: where it is, what it imports, which rule it breaks."""

    path: Path
    line: int
    layer: str
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.layer} may not import {self.imported} ({self.rule})"


def package_dirs(root: Path) -> dict[str, Path]:
    """``[tool.setuptools] package-dir`` of ``root/pyproject.toml``: dotted package -> folder."""
    pyproject = root / "pyproject.toml"
    with pyproject.open("rb") as fh:
        mapping = tomllib.load(fh).get("tool", {}).get("setuptools", {}).get("package-dir")
    if not mapping:
        raise SystemExit(f"{pyproject}: no [tool.setuptools] package-dir mapping to check")
    return {package: root / folder for package, folder in mapping.items() if package}


def iter_modules(root: Path) -> Iterator[tuple[str, Path]]:
    """``(dotted module name, file)`` of every ``.py`` file under the mapped package folders."""
    dirs = package_dirs(root)
    for package, folder in sorted(dirs.items()):
        nested = [d for d in dirs.values() if d != folder and folder in d.parents]
        for path in sorted(folder.rglob("*.py")):
            if any(d in path.parents for d in nested):
                continue  # belongs to the package mapped to that folder
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((package, *parts)), path


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> str | None:
    """The layer whose prefix is the longest one ``module`` lives under (None: not ours)."""
    matches = [(len(prefix), name) for name, prefix in LAYERS.items() if _under(module, prefix)]
    return max(matches)[1] if matches else None


def imports_of(module: str, path: Path, tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``(line, imported module)`` of every import in ``tree``, relative ones resolved.

    ``from a import b`` yields ``a.b`` (``b`` may be a submodule); lazy imports inside
    functions and ``TYPE_CHECKING`` blocks are walked like any other.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, base if alias.name == "*" else f"{base}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            yield node.lineno, node.args[0].value


def check(root: Path = ROOT) -> list[Violation]:
    """Every import under ``root``'s mapped packages that breaks a rule of :data:`RULES`."""
    violations = []
    for module, path in iter_modules(root):
        layer = layer_of(module)
        rules = [r for r in RULES if r.layer == layer]
        if not rules:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            raise SystemExit(f"{path}:{exc.lineno}: cannot parse ({exc.msg}); fix the syntax error") from None
        for line, imported in imports_of(module, path, tree):
            if layer_of(imported) == layer:
                continue  # a layer may always import itself
            for rule in rules:
                hit = next((p for p in rule.forbidden if _under(imported, p)), None)
                if hit and (module, hit) not in EXCEPTIONS:
                    rel = path.relative_to(root) if root in path.parents else path
                    violations.append(Violation(rel, line, layer, imported, rule.name))
    return violations


def main(argv: list[str] | None = None) -> int:
    """Print every violation under ``argv[0]`` (default: this repository); 1 when there is any."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]).resolve() if args else ROOT
    violations = check(root)
    for v in violations:
        print(v)
    if violations:
        print(
            f"{len(violations)} import(s) break the layer rules (tests/architecture/layers.py)",
            file=sys.stderr,
        )
        return 1
    print(f"{len(RULES)} layer contracts kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
