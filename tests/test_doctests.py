"""Run the doctests of every teacherforge module (rewards, metrics, … show their scores there)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

OPTIONAL = {"vllm", "unsloth", "ray", "langchain_community", "langchain_core", "bitsandbytes", "selenium", "verifiers", "qdrant_client", "mlflow"}
PACKAGES = [
    "teacherforge",
    "teacherforge.envs",
    "teacherforge.rewards",
    "teacherforge.datagen",
    "teacherforge.trainers",
]


def _modules() -> list[str]:
    names = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if (
                info.name.startswith(
                    (
                        "teacherforge.envs.",
                        "teacherforge.rewards.",
                        "teacherforge.datagen.",
                        "teacherforge.trainers.",
                    )
                )
                and package_name == "teacherforge"
            ):
                continue  # visited through their own package
            if info.name.endswith(".__main__"):
                continue  # running it is running the command
            names.append(info.name)
    return sorted(set(names))


@pytest.mark.parametrize("module_name", _modules())
def test_module_doctests(module_name):
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in OPTIONAL:
            pytest.skip(f"optional dependency {exc.name} not installed")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {module_name}"
