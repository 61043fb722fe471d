"""The dataset builder: splits by chunk, stratification, RAG-failure share, axolotl segments, versions."""

from __future__ import annotations

from collections import Counter

import pytest

from teacherforge.config import ConfigError, load_config
from teacherforge.datagen.dataset import run_dataset
from teacherforge.datagen.quality import run_quality
from teacherforge.datagen.teacher import run_teacher
from teacherforge.llm import FakeBackend
from teacherforge.rag import NOT_IN_CONTEXT
from teacherforge.workspace import read_json, read_jsonl
from tests.datagen._sft_rundir import build_run_dir, teacher_responder

SPLITS = ("train", "validation", "test")


def _responder(prompt, i):
    if "Who" in prompt[1].content:
        return "Aliens from Venus wrote it in crayon."  # ungrounded → pending review → left out
    return teacher_responder(prompt, i)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = build_run_dir(tmp_path_factory.mktemp("dataset") / "run")
    config = _config(path)
    run_teacher(config, backend=FakeBackend(_responder))
    run_quality(config)
    return path


def _config(run_dir, *overrides):
    return load_config(
        None,
        [
            f"run_dir={run_dir}",
            "retrieval.kind=bm25",
            "retrieval.min_score=0.5",
            "teacher.splits=[train,validation,test]",
            "quality.embedding_check=false",
            *overrides,
        ],
    )


def _splits(run_dir):
    return {s: read_jsonl(run_dir / "dataset" / f"{s}.jsonl") for s in SPLITS}


def test_no_source_chunk_in_two_splits_and_split_reused(run_dir):
    run_dataset(_config(run_dir, "dataset.rag_failure_share=0.3"))
    splits = _splits(run_dir)
    questions = {q["id"]: q for q in read_json(run_dir / "questions.json")}
    seen: dict[str, str] = {}
    for split, rows in splits.items():
        assert rows, split
        for ex in rows:
            meta = ex["metadata"]
            assert ex["split"] == split == questions[meta["question_id"]]["split"]
            for cid in meta["source_chunk_ids"]:
                assert seen.setdefault(cid, split) == split, f"{cid} in {seen[cid]} and {split}"
    chunk_split = {
        cid: s for s, rows in splits.items() for ex in rows for cid in ex["metadata"]["source_chunk_ids"]
    }
    for split, rows in splits.items():
        for ex in rows:
            if ex["metadata"]["generation_method"] == "rag_failure":  # distractors never leave the split
                assert all(chunk_split.get(c, split) == split for c in ex["metadata"]["context_chunk_ids"])


def test_only_kept_review_statuses_reach_the_dataset(run_dir):
    summary = run_dataset(_config(run_dir))
    rows = [ex for rows in _splits(run_dir).values() for ex in rows]
    assert summary["skipped"]["review_status"] > 0
    assert not any("Who" in ex["messages"][1]["content"] for ex in rows)
    teacher = {r["id"]: r for r in read_jsonl(run_dir / "teacher.jsonl")}
    assert all(teacher[ex["id"]]["metadata"]["review_status"] == "auto" for ex in rows)
    # the chat layout: system with numbered sources, user question, assistant answer
    ex = rows[0]
    assert [m["role"] for m in ex["messages"]] == ["system", "user", "assistant"]
    assert (
        "[1] " in ex["messages"][0]["content"]
        and ex["messages"][2]["content"] == teacher[ex["id"]]["response"]
    )


@pytest.mark.parametrize("share", [0.0, 0.25, 0.4])
def test_rag_failure_share_as_configured(run_dir, share):
    summary = run_dataset(_config(run_dir, f"dataset.rag_failure_share={share}"))
    for split, rows in _splits(run_dir).items():
        failures = [ex for ex in rows if ex["metadata"]["generation_method"] == "rag_failure"]
        assert abs(len(failures) / len(rows) - share) <= 1 / len(rows), (split, len(failures), len(rows))
        assert summary["stratification"][split]["rag_failure_share"] == round(len(failures) / len(rows), 4)
        for ex in failures:
            assert ex["messages"][2]["content"] == NOT_IN_CONTEXT
            assert not set(ex["metadata"]["context_chunk_ids"]) & set(ex["metadata"]["source_chunk_ids"])


def test_stratification_report_matches_the_data(run_dir):
    summary = run_dataset(_config(run_dir))
    report = summary["stratification"]
    info = read_json(run_dir / "dataset" / "dataset_info.json")
    assert info["stratification"] == report
    for split, rows in _splits(run_dir).items():
        counts: dict[str, int] = {}
        for ex in rows:
            counts[ex["metadata"]["difficulty"]] = counts.get(ex["metadata"]["difficulty"], 0) + 1
        assert report[split]["difficulty"] == dict(sorted(counts.items()))
        assert report[split]["examples"] == len(rows)
        # splits are assigned by chunk, so difficulty shares only approximate the whole set
        assert report[split]["max_difficulty_deviation"] <= 0.35


def test_axolotl_segments_concatenate_to_the_conversation(run_dir):
    from tests.trainers._sft_tiny import smollm2_tokenizer

    run_dataset(_config(run_dir, "dataset.rag_failure_share=0.25"))
    tokenizer = smollm2_tokenizer()  # its shipped template: an independent renderer of the same ChatML
    chats = {ex["id"]: ex["messages"] for rows in _splits(run_dir).values() for ex in rows}
    for split in SPLITS:
        rows = read_jsonl(run_dir / "dataset" / "axolotl" / f"{split}.jsonl")
        assert len(rows) == len(_splits(run_dir)[split])
        for row in rows:
            messages = chats[row["id"]]
            text = "".join(seg["text"] for seg in row["segments"])
            assert text == tokenizer.apply_chat_template(messages, tokenize=False)
            trained = [seg["text"] for seg in row["segments"] if seg["label"]]
            assert trained == [m["content"] + "<|im_end|>" for m in messages if m["role"] == "assistant"]


def test_hf_dataset_and_version_with_parent(run_dir):
    from datasets import load_from_disk

    first = run_dataset(_config(run_dir, "dataset.rag_failure_share=0.0"))
    again = run_dataset(_config(run_dir, "dataset.rag_failure_share=0.0"))
    assert again["version"] == first["version"]  # content hash: same data, same version
    changed = run_dataset(_config(run_dir, "dataset.rag_failure_share=0.2"))
    assert changed["version"] != first["version"] and changed["parent"] == first["version"]
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["dataset"]["version"] == changed["version"]
    assert manifest["dataset"]["parent"] == first["version"]
    hf = load_from_disk(str(run_dir / "dataset" / "hf"))
    splits = _splits(run_dir)
    for split in SPLITS:
        assert hf[split].num_rows == len(splits[split])
        assert hf[split][0]["messages"] == splits[split][0]["messages"]


def test_cli_commands_run_the_stages(run_dir, capsys):
    from teacherforge.cli import main

    common = [
        "--run-dir",
        str(run_dir),
        "--set",
        "retrieval.kind=bm25",
        "--set",
        "retrieval.min_score=0.5",
        "--set",
        "quality.embedding_check=false",
        "--set",
        "teacher.kind=oracle",
    ]
    assert main(["teacher", *common]) == 0
    assert main(["quality", *common]) == 0
    assert main(["dataset", *common]) == 0
    out = capsys.readouterr().out
    assert "ORACLE" in out and "teacherforge quality" in out and "teacherforge dataset" in out
    assert main(["dataset", "--run-dir", str(run_dir / "missing")]) == 1
    assert "teacher.jsonl, chunks.jsonl, questions.json not found" in capsys.readouterr().err
    assert not (run_dir / "missing").exists()  # nothing is created for a bad input


def _card(run_dir) -> tuple[dict, str]:
    """The dataset card's YAML front matter (parsed) and its Markdown."""
    import yaml

    _, front, body = (run_dir / "dataset" / "README.md").read_text().split("---\n", 2)
    return yaml.safe_load(front), body


def _table(body: str, heading: str) -> dict[str, list[str]]:
    """The rows of the Markdown table under ``## heading``, by first cell."""
    section = body.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def test_dataset_card_counts_sources_lineage_and_license(run_dir):
    summary = run_dataset(_config(run_dir, "dataset.rag_failure_share=0.25"))
    meta, body = _card(run_dir)
    splits = _splits(run_dir)
    assert meta["license"] == "unknown" and "set it before sharing" in body
    files = meta["configs"][0]["data_files"]
    assert files == [{"split": s, "path": f"{s}.jsonl"} for s in SPLITS if splits[s]]
    lines = {s: len((run_dir / "dataset" / f"{s}.jsonl").read_text().splitlines()) for s in SPLITS}
    assert {s: int(row[0]) for s, row in _table(body, "Splits").items()} == lines
    methods = _table(body, "Generation methods")
    for i, split in enumerate(SPLITS):
        found = Counter(ex["metadata"]["generation_method"] for ex in splits[split])
        assert {m: int(row[i]) for m, row in methods.items() if int(row[i])} == found
    assert "rag_failure" in methods
    chunks = read_jsonl(run_dir / "chunks.jsonl")
    assert _table(body, "Sources")["orion.md"][0] == str(len(chunks))
    teacher = read_jsonl(run_dir / "teacher.jsonl")
    kept = {ex["metadata"]["parent_id"] for rows in splits.values() for ex in rows}
    assert f"`{teacher[0]['metadata']['model']}` {len(kept)}" in body
    steps = {s["name"]: s for s in read_json(run_dir / "manifest.json")["steps"]}
    for name, digest in steps["dataset"]["inputs"].items():  # this build's inputs, by content hash
        assert f"`{name}` `{digest}`" in body
    assert f"dataset version `{summary['version']}`" in body
    lineage = _table(body, "Lineage")
    assert {name: row[0] for name, row in lineage.items()} == {
        name: steps[name]["fingerprint"] or "— (not fingerprinted)" for name in ("teacher", "quality")
    }


def test_dataset_license_reaches_the_card(run_dir):
    run_dataset(_config(run_dir, "dataset.license=cc-by-4.0"))
    meta, body = _card(run_dir)
    assert meta["license"] == "cc-by-4.0" and "`cc-by-4.0` (`dataset.license`)" in body
    with pytest.raises(ConfigError, match=r"dataset.license: empty"):
        _config(run_dir, "dataset.license=' '")


def test_round_trips_through_datasets(run_dir, tmp_path):
    from datasets import load_dataset, load_from_disk

    from teacherforge.datagen.dataset import _save_hf

    run_dataset(_config(run_dir, "dataset.rag_failure_share=0.2"))
    splits = _splits(run_dir)
    hf = load_from_disk(str(run_dir / "dataset" / "hf"))
    for split, rows in splits.items():
        assert hf[split].to_list() == [
            {
                "id": ex["id"],
                "split": ex["split"],
                "difficulty": ex["metadata"]["difficulty"],
                "generation_method": ex["metadata"]["generation_method"],
                "tags": ex["metadata"]["tags"],
                "messages": ex["messages"],
            }
            for ex in rows
        ]
    _save_hf({"train": splits["train"], "validation": [], "test": []}, tmp_path / "hf")
    assert load_from_disk(str(tmp_path / "hf"))["test"].to_list() == []  # an empty split loads too
    filled = {s: str(run_dir / "dataset" / f"{s}.jsonl") for s in SPLITS if splits[s]}
    as_json = load_dataset("json", data_files=filled, cache_dir=str(tmp_path / "json"))
    by_card = load_dataset(str(run_dir / "dataset"), cache_dir=str(tmp_path / "card"))  # the card's configs
    for split in filled:
        assert as_json[split].to_list() == splits[split]
        assert by_card[split].to_list() == splits[split]
