"""Config loading: presets, overrides, and errors that name the bad key."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from teacherforge.config import MOVED_KEYS, Config, ConfigError, RetrievalConfig, load_config, preset_path
from teacherforge.config.retrieval import BUILD_KEYS, SEARCH_KEYS

REPO = Path(__file__).resolve().parents[2]


def test_defaults_and_override():
    cfg = load_config(None, ["retrieval.kind=dense", "datagen.chunking.size=750", "seed=7"])
    assert isinstance(cfg, Config)
    assert cfg.retrieval.kind == "dense"
    assert cfg.datagen.chunking.size == 750
    assert cfg.seed == 7
    assert cfg.run_path == Path("runs/default")


def test_valid_yaml_loads(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nstages: [datagen]\nretrieval:\n  kind: hybrid\n  hybrid_dense_weight: 0.3\n")
    cfg = load_config(str(path))
    assert cfg.name == "x" and cfg.retrieval.kind == "hybrid" and cfg.retrieval.hybrid_dense_weight == 0.3


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("retrieval:\n  kinds: dense\n", "retrieval.kinds"),
        ("retrieval:\n  top_k: many\n", "retrieval.top_k"),
        ("retrieval:\n  kind: fancy\n", "retrieval.kind"),
        ("datagen:\n  chunking:\n    overlap: 5000\n", "datagen.chunking.overlap"),
        ("stages: [datagen, cook]\n", "stages"),
        (
            "grpo:\n  batch_size: 6\n  num_generations: 4\n",
            "grpo.batch_size: 6 must be a multiple of grpo.num_generations (4)",
        ),
        ("env:\n  search_tag: x\n  answer_tag: x\n", "env.*_tag: tag names must be distinct"),
        ("eval:\n  top_k: 0\n", "eval.top_k"),
        ("serve:\n  max_batch: 0\n", "serve.max_batch"),
        ("bogus_section: 1\n", "bogus_section"),
    ],
)
def test_bad_yaml_names_the_key(tmp_path, yaml_text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert needle in str(err.value)
    assert str(path) in str(err.value)


def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["retrieval.kindd=dense"])
    assert "retrieval.kindd" in str(err.value)
    assert "'kind'" in str(err.value)


@pytest.mark.parametrize("old", sorted(MOVED_KEYS))
def test_moved_keys_fail_naming_the_new_key(tmp_path, old):
    section, key = old.split(".")
    path = tmp_path / "old.yaml"
    path.write_text(f"{section}:\n  {key}: 1\n")
    for source, attempt in (
        (str(path), lambda: load_config(str(path))),
        (f"--set {old}=1", lambda: load_config(None, [f"{old}=1"])),
    ):
        with pytest.raises(ConfigError) as err:
            attempt()
        assert (
            str(err.value)
            == f"{source}: {old}: moved to {MOVED_KEYS[old]} (one key for every stage that reads it); rename it to {MOVED_KEYS[old]}"
        )


def test_replaced_key_fails_naming_what_replaces_it():
    with pytest.raises(ConfigError, match=r"loop.min_improvement: replaced by loop.stop_without_gain"):
        load_config(None, ["loop.min_improvement=0.1"])


def test_one_top_k_for_every_stage_and_eval_apart_only_when_set():
    cfg = load_config(None, ["retrieval.top_k=2"])
    assert cfg.retrieval.top_k == 2 and cfg.eval.top_k is None and cfg.eval_top_k == 2
    assert load_config(None, ["retrieval.top_k=2", "eval.top_k=5"]).eval_top_k == 5
    assert (
        not hasattr(cfg.teacher, "top_k") and not hasattr(cfg.env, "top_k") and not hasattr(cfg.env, "index")
    )


def test_retrieval_keys_are_build_time_or_search_time():
    fields = {f for f in RetrievalConfig.__dataclass_fields__}
    runtime = {"batch_size", "embedding_cache"}  # neither shapes the index nor changes what a search returns
    assert set(BUILD_KEYS).isdisjoint(SEARCH_KEYS) and set(BUILD_KEYS) | set(SEARCH_KEYS) | runtime == fields


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        load_config(None, ["retrieval.kind"])


def test_unparseable_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("retrieval: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot parse YAML"):
        load_config(str(path))


def test_unknown_preset_lists_presets():
    with pytest.raises(ConfigError, match="presets"):
        preset_path("no_such_preset_xyz")


def test_every_shipped_preset_loads():
    presets = sorted((REPO / "configs").glob("*.yaml"))
    assert presets, "configs/ ships presets"
    for path in presets:
        load_config(path.stem)


def test_presets_are_package_data_in_a_wheel(tmp_path):
    """A normal (non-editable) install carries the YAML presets: check the built wheel."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("teacherforge-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {p.name for p in (REPO / "configs").glob("*.yaml")}
    packaged = {Path(n).name for n in names if n.startswith("teacherforge/configs/") and n.endswith(".yaml")}
    assert shipped <= packaged
    assert "teacherforge/envs/__init__.py" in names
    assert "teacherforge/rewards/__init__.py" in names
    assert any(n.startswith("teacherforge/configs/rewards/") for n in names) or not list(
        (REPO / "configs" / "rewards").glob("*.yaml")
    )
