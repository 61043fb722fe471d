"""The run-dir layout: one owner of every file name, its loaders, and the layout version."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from teacherforge.cli import main
from teacherforge.records import Question
from teacherforge.run import LAYOUT_VERSION, NAMES, LayoutVersionError, ReportDir, RunLayout, TrainingDir
from teacherforge.types import Chunk
from teacherforge.workspace import RunDir, RunDirLocked, atomic_write_jsonl

REPO = Path(__file__).resolve().parents[2]


def _paths(obj: object, depth: int = 2) -> list[Path]:
    """Every path property of a layout object (sub-layouts expanded ``depth`` levels)."""
    out: list[Path] = []
    for name in dir(type(obj)):
        attr = getattr(type(obj), name)
        if not isinstance(attr, property):
            continue
        value = getattr(obj, name)
        if isinstance(value, Path):
            out.append(value)
        elif isinstance(value, (TrainingDir, ReportDir)) and depth:
            out += [value.path, *_paths(value, depth - 1)]
        elif isinstance(value, tuple):
            out += list(value)
    return out


def _every_name() -> set[str]:
    grpo = NAMES.training_dir("grpo")
    named = [
        *_paths(NAMES),
        *_paths(grpo),
        NAMES.index_dir("original"),
        NAMES.index_dir("paraphrased"),
        NAMES.dataset_split("train"),
        NAMES.axolotl_split("train"),
        NAMES.round_dir(1),
    ]
    return {str(p) for p in named}


def test_names_are_relative_to_the_run_dir_and_distinct() -> None:
    names = _every_name()
    assert {"manifest.json", ".lock", "chunks.jsonl", "questions.json", "index", "index_paraphrased"} <= names
    assert {"teacher.jsonl", "teacher_raw.jsonl", "review.jsonl", "dataset/train.jsonl"} <= names
    assert {"report/metrics.json", "report/rounds.png", "grpo/grpo_log.jsonl", "rounds/round_01"} <= names
    assert "grpo/warm_start/warm_start.json" in names
    properties = [p for p in _paths(NAMES) if p not in NAMES.corpus_artifacts]
    assert len(properties) == len(set(properties)), "two properties name the same file"
    run = RunLayout("/data/runs/x")
    assert run.teacher == Path("/data/runs/x/teacher.jsonl")
    assert run.report.summary == Path("/data/runs/x/report/summary.md")


def test_training_dir_follows_the_output_dir_override(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    assert layout.training_dir("sft").adapter == tmp_path / "run" / "sft" / "adapter"
    moved = layout.training_dir("grpo", tmp_path / "elsewhere")
    assert moved.adapter == tmp_path / "elsewhere" / "adapter"
    assert moved.warm_start.adapter == tmp_path / "elsewhere" / "warm_start" / "adapter"
    with pytest.raises(ValueError, match="'eval' is not one of"):
        layout.training_dir("eval")


def test_index_choice_is_checked() -> None:
    with pytest.raises(ValueError, match="'other' is not allowed"):
        NAMES.index_dir("other")


def test_no_library_module_spells_a_run_dir_file_name() -> None:
    """Every file name the layout owns appears as a string literal only in the layout modules."""
    owned = {Path(n).name for n in _every_name() if "." in Path(n).name}
    allowed = {
        ("teacherforge/llm/cache.py", ".lock"),  # the LLM cache's own writer lock, `<cache>.lock`
        ("teacherforge/models.py", ".lock"),  # the model cache's conversion lock
        ("teacherforge/retrieval/retriever.py", "chunks.jsonl"),  # a file inside an index dir
        ("datagen/autodidact.py", "questions.json"),  # AutoDidact's export layout, not a run dir
        ("benchmarks/update_readme.py", "README.md"),  # the repository's README, not a dataset card
    }
    layout_modules = {"teacherforge/run.py", "teacherforge/run_paths.py"}
    found = []
    for folder in ("teacherforge", "envs", "datagen", "trainers", "rewards", "benchmarks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in layout_modules:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    name = node.value.rsplit("/", 1)[-1]
                    if name in owned and (rel, name) not in allowed:
                        found.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert not found, "ask teacherforge.run.RunLayout instead:\n" + "\n".join(found)


# ---- loaders ---------------------------------------------------------------------------------
@pytest.fixture
def run_dir(tmp_path: Path) -> RunLayout:
    layout = RunLayout(tmp_path / "run")
    chunks = [Chunk(f"c{i}", "doc", "doc.txt", f"passage {i}", i * 10, i * 10 + 9) for i in range(3)]
    layout.root.mkdir()
    atomic_write_jsonl(layout.chunks, [c.to_json() for c in chunks])
    layout.save_questions(
        [
            Question("q0", "c0", "first?", "one", split="train"),
            Question("q1", "c1", "second?", "two", split="train"),
            Question("q2", "c2", "third?", "three", split="test"),
        ]
    )
    return layout


def test_loaders_read_what_the_layout_wrote(run_dir: RunLayout) -> None:
    assert [q.id for q in run_dir.questions("train")] == ["q0", "q1"]
    assert [q.id for q in run_dir.questions(None)] == ["q0", "q1", "q2"]
    assert [c.chunk_id for c in run_dir.chunk_list()] == ["c0", "c1", "c2"]
    assert run_dir.chunk_map()["c2"].text == "passage 2"
    with pytest.raises(ValueError, match=r"no questions in split 'validation'; splits present"):
        run_dir.questions("validation")


def test_a_bad_chunk_line_names_the_file_and_line(run_dir: RunLayout) -> None:
    with run_dir.chunks.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"chunk_id": "c9", "colour": "red"}) + "\n")
    with pytest.raises(ValueError, match=r"chunks\.jsonl:4: not a chunk record"):
        run_dir.chunk_list()


def test_missing_inputs_are_one_line_naming_each_and_the_producer(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        layout.require([layout.teacher, layout.chunks], "teacherforge teacher")
    assert (
        str(err.value)
        == f"{tmp_path}: teacher.jsonl, chunks.jsonl not found; run `teacherforge teacher` first"
    )
    with pytest.raises(FileNotFoundError, match="no retriever index there"):
        layout.retriever("original")
    assert not layout.has_index("original")


# ---- layout version --------------------------------------------------------------------------
def _manifest(layout: RunLayout) -> dict:
    return json.loads(layout.manifest.read_text(encoding="utf-8"))


def test_a_new_run_dir_records_the_layout_version(tmp_path: Path) -> None:
    with RunDir(tmp_path / "new"):
        pass
    assert _manifest(RunLayout(tmp_path / "new"))["layout_version"] == LAYOUT_VERSION


def test_a_run_dir_from_before_versions_is_migrated_in_place(run_dir: RunLayout) -> None:
    old = {
        "created_at": "2024-01-01T00:00:00+00:00",
        "steps": [{"name": "chunk"}],
        "dataset": {"version": "v"},
    }
    run_dir.manifest.write_text(json.dumps(old), encoding="utf-8")
    before = {p.name: p.read_bytes() for p in run_dir.root.iterdir() if p.name != "manifest.json"}
    assert run_dir.questions("train")  # readers accept it as it is: the names did not change
    with RunDir(run_dir.root):
        pass
    manifest = _manifest(run_dir)
    assert manifest["layout_version"] == LAYOUT_VERSION
    assert {k: manifest[k] for k in old} == old, "the migration only records the version"
    after = {p.name: p.read_bytes() for p in run_dir.root.iterdir() if p.name in before}
    assert after == before, "no artifact was touched"
    assert not [p for p in run_dir.root.iterdir() if p.name.endswith(".tmp")], "no temp file left behind"


def test_a_newer_run_dir_is_refused_in_one_line_and_left_untouched(run_dir: RunLayout) -> None:
    run_dir.manifest.write_text(
        json.dumps({"layout_version": LAYOUT_VERSION + 1, "steps": []}), encoding="utf-8"
    )
    recorded = run_dir.manifest.read_bytes()
    with pytest.raises(LayoutVersionError) as err, RunDir(run_dir.root):
        pass
    message = str(err.value)
    assert "\n" not in message
    assert f"layout_version {LAYOUT_VERSION + 1}" in message and f"reads version {LAYOUT_VERSION}" in message
    assert "upgrade teacherforge" in message
    assert run_dir.manifest.read_bytes() == recorded
    with pytest.raises(LayoutVersionError):  # refused again, not "locked": the lock was released
        RunDir(run_dir.root).__enter__()
    with pytest.raises(LayoutVersionError):
        run_dir.questions("train")
    with pytest.raises(LayoutVersionError):
        run_dir.retriever("original")


def _dataset_command(run: Path) -> list[str]:
    return ["dataset", "--run-dir", str(run), "--set", "dataset.hf_dataset=false"]


def test_the_cli_reports_a_newer_layout_and_a_locked_run_dir_in_one_line(
    run_dir: RunLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir.teacher.write_text("", encoding="utf-8")
    run_dir.manifest.write_text(json.dumps({"layout_version": 99}), encoding="utf-8")
    assert main(_dataset_command(run_dir.root)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "layout_version 99" in err
    run_dir.manifest.unlink()
    with RunDir(run_dir.root):
        assert main(_dataset_command(run_dir.root)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "in use by another teacherforge process" in err
    assert not run_dir.dataset_dir.exists(), "nothing half-written"


def test_a_locked_run_dir_is_a_command_error() -> None:
    from teacherforge.errors import CommandError

    assert issubclass(RunDirLocked, CommandError)
