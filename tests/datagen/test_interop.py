"""AutoDidact export read back with LangChain's own loaders; imports of ReZero / AutoDidact /
Search-R1 / JSONL question sets mapped onto a hand-written ``chunks.jsonl``."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from teacherforge.cli import cmd_import
from teacherforge.datagen import importers
from teacherforge.datagen.autodidact import export_autodidact
from teacherforge.datagen.importers import import_questions
from teacherforge.records import Question, load_questions, save_questions
from teacherforge.types import Chunk
from teacherforge.workspace import RunDir, atomic_write_jsonl, read_json

TEXTS = [
    "Apollo 13 launched on April 11, 1970 from Kennedy Space Center at 13:13 central standard time.",
    "At 55:54 mission time, oxygen tank 2 in the service module failed after a stir of the cryogenic tanks.",
    "The crew moved into the lunar module Aquarius and used it as a lifeboat for the return to Earth.",
    "Carbon dioxide built up in the lunar module; the crew built an adapter for the square lithium hydroxide canisters.",
    "The command module Odyssey was powered up again shortly before reentry, using procedures written on the ground.",
    "Splashdown occurred in the South Pacific Ocean on April 17, 1970, near the recovery ship Iwo Jima.",
    "The review board found that a thermostatic switch in the tank had welded shut during ground testing.",
    "Tank heater wiring insulation was damaged when the heater ran for eight hours at 28 volts during detanking.",
]


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    """A run dir written by hand: 8 chunks over two documents and 3 questions."""
    run = tmp_path / "run"
    chunks = [
        Chunk(
            f"{'report' if i < 5 else 'board'}.md-{i % 5}",
            "report.md" if i < 5 else "board.md",
            f"/corpus/{'report' if i < 5 else 'board'}.md",
            text,
            0,
            len(text),
            {"topic": "apollo"},
        )
        for i, text in enumerate(TEXTS)
    ]
    atomic_write_jsonl(run / "chunks.jsonl", [c.to_json() for c in chunks])
    save_questions(
        run / "questions.json",
        [
            Question(
                "q1",
                "report.md-1",
                "Which tank failed at 55:54?",
                "oxygen tank 2",
                "easy",
                "train",
                ("report.md-1",),
            ),
            Question(
                "q2", "board.md-0", "Where did the crew splash down?", "South Pacific Ocean", "medium", "test"
            ),
            Question(
                "q3", "report.md-2", "What was the lunar module called?", "Aquarius", "easy", "validation"
            ),
        ],
    )
    return run


class HashEmbedder:
    """Toy embedder: hashed bag of words, L2-normalised (the real one is tested as slow)."""

    def __init__(self) -> None:
        self.identity = {"name": "hash-bow", "dim": 256, "normalize": True}

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(",", " ").replace(".", " ").split():
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def _read_back_like_autodidact(out: Path, embeddings: object) -> tuple[list, list, object]:
    """The calls AutoDidact's scripts make, from inside the export directory."""
    from langchain_community.vectorstores import FAISS

    with open(out / "saved_data" / "chunks.pkl", "rb") as fh:
        chunks = pickle.load(fh)  # we wrote this file in the test
    with open(out / "saved_data" / "questions.json") as fh:
        questions = json.load(fh)
    store = FAISS.load_local(str(out / "faiss_index"), embeddings, allow_dangerous_deserialization=True)
    return chunks, questions, store


def test_export_reads_back_with_langchain(run_dir: Path, tmp_path: Path) -> None:
    from langchain_core.documents import Document

    from teacherforge.datagen.autodidact import make_langchain_embeddings

    out = tmp_path / "autodidact"
    summary = export_autodidact(run_dir, out, embedder=HashEmbedder())
    assert (summary.chunks, summary.questions) == (8, 3)
    chunks, questions, store = _read_back_like_autodidact(out, make_langchain_embeddings(HashEmbedder()))

    assert len(chunks) == 8 and all(isinstance(c, Document) for c in chunks)
    assert [c.page_content for c in chunks] == TEXTS
    assert chunks[6].metadata["chunk_id"] == "board.md-1" and chunks[6].metadata["topic"] == "apollo"
    for q in questions:
        assert set(q) >= {"chunk_id", "question", "answer", "difficulty"} and isinstance(q["chunk_id"], int)
        assert q["answer"].lower() in chunks[q["chunk_id"]].page_content.lower()
        assert chunks[q["chunk_id"]].metadata["chunk_id"] == q["teacherforge_chunk_id"]
    assert [q["chunk_id"] for q in questions] == [1, 5, 2]
    import datasets  # AutoDidact's get_qa_dataset reads questions.json this way

    table = datasets.load_dataset(
        "json",
        data_files=str(out / "saved_data" / "questions.json"),
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert table["chunk_id"] == [1, 5, 2] and table["answer"][0] == "oxygen tank 2"

    hits = store.similarity_search("recovery ship Iwo Jima splashdown South Pacific", k=2)
    assert hits[0].page_content == TEXTS[5] and hits[0].metadata["chunk_id"] == "board.md-0"
    meta = read_json(out / "teacherforge_export.json")
    assert meta["embedder"]["name"] == "hash-bow" and meta["chunk_ids"][5] == "board.md-0"
    assert not list(run_dir.glob("*.pkl"))  # the run dir itself never holds a pickle

    # re-export with a split filter replaces the files in place
    summary = export_autodidact(run_dir, out, embedder=HashEmbedder(), splits=["train"])
    assert (summary.questions, summary.skipped_questions) == (1, 2)
    assert [q["id"] for q in read_json(out / "saved_data" / "questions.json")] == ["q1"]
    assert not list(out.glob(".*"))  # no temp files left


@pytest.mark.slow
def test_export_cli_with_the_embedded_embedder(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from teacherforge.cli import main as cli_main
    from teacherforge.datagen.autodidact import make_langchain_embeddings
    from teacherforge.retrieval import Embedder

    out = tmp_path / "ad"
    assert cli_main(["export", "autodidact", "--run-dir", str(run_dir), "--out", str(out)]) == 0
    assert "exported 8 chunks and 3 questions with embedder 'minilm'" in capsys.readouterr().err
    chunks, questions, store = _read_back_like_autodidact(out, make_langchain_embeddings(Embedder("minilm")))
    hits = store.similarity_search("Which oxygen tank failed in the service module?", k=1)
    assert hits[0].metadata["chunk_id"] == "report.md-1"
    assert chunks[questions[0]["chunk_id"]].metadata["chunk_id"] == "report.md-1"


def _write(path: Path, records: list[dict], jsonl: bool = True) -> Path:
    text = "\n".join(json.dumps(r) for r in records) + "\n" if jsonl else json.dumps(records)
    path.write_text(text, encoding="utf-8")
    return path


def test_import_rezero_maps_questions_to_the_right_chunks(run_dir: Path, tmp_path: Path) -> None:
    rezero = _write(
        tmp_path / "rezero.jsonl",
        [
            {
                "id": "r1",
                "question": "What switch welded shut?",
                "answer": "thermostatic switch",
                "supporting_paragraphs": [
                    "The review board found that a thermostatic switch in the tank had welded "
                    "shut during ground testing."
                ],
            },
            # paraphrased support (no exact span): word overlap still finds it
            {
                "id": "r2",
                "question": "How long did the heater run?",
                "answer": "eight hours",
                "supporting_text": "during detanking the tank heater ran for eight hours at 28 volts, damaging wiring",
            },
            # no support: mapped by the answer; "1970" is in two chunks, the question picks the launch one
            {"id": "r3", "question": "In which year did Apollo 13 launch from Kennedy?", "answer": "1970"},
            {
                "id": "r4",
                "question": "Who won the 1966 World Cup?",
                "answer": "England",
                "supporting_text": "England beat West Germany at Wembley.",
            },
            {"id": "r5", "answer": "no question here"},
        ],
    )
    result = import_questions(rezero, run_dir, "rezero")
    # ids are content hashes; the source id is kept as metadata
    got = {q.metadata["imported"]["source_id"]: q for q in result.imported}
    assert {k: (q.chunk_id, q.metadata["match"]["method"]) for k, q in got.items()} == {
        "r1": ("board.md-1", "support_exact"),
        "r2": ("board.md-2", "support_overlap"),
        "r3": ("report.md-0", "answer_exact"),
    }
    assert all(q.id.startswith("import:rezero:") for q in got.values())
    assert got["r2"].metadata["match"]["score"] >= 0.6
    assert got["r3"].metadata["match"]["candidates"] == 2
    assert [(d.ref.rsplit(":", 1)[1], d.reason) for d in result.dropped] == [
        ("4", "unmatched"),
        ("5", "malformed"),
    ]
    assert "no chunk contains the supporting text or answer" in result.dropped[0].detail

    saved = load_questions(run_dir / "questions.json")
    # existing questions kept, new ones appended
    assert [q.id for q in saved] == ["q1", "q2", "q3", *(q.id for q in got.values())]
    step = next(s for s in RunDir.load_manifest(run_dir)["steps"] if s["name"] == "import:rezero.jsonl")
    assert step["counts"]["imported"] == 3 and step["counts"]["dropped_by_reason"] == {
        "unmatched": 1,
        "malformed": 1,
    }
    # importing the same file again adds nothing
    again = import_questions(rezero, run_dir, "rezero")
    assert again.imported == [] and {d.reason for d in again.dropped} == {
        "duplicate",
        "unmatched",
        "malformed",
    }


def test_import_splits_follow_existing_questions_then_the_run_split(run_dir: Path, tmp_path: Path) -> None:
    from teacherforge.datagen.splits import assign_splits

    path = _write(
        tmp_path / "mine.jsonl",
        [
            {
                "question": "What did the crew use as a lifeboat?",
                "answer": "the lunar module Aquarius",
            },  # chunk of q3
            {
                "question": "What was built for the canisters?",
                "answer": "an adapter",
            },  # chunk without questions
        ],
    )
    result = import_questions(path, run_dir, "jsonl", split_ratios=[0.5, 0.25, 0.25], seed=7)
    by_chunk = {q.chunk_id: q.split for q in result.imported}
    expected = assign_splits(
        [json.loads(line)["chunk_id"] for line in (run_dir / "chunks.jsonl").open()], [0.5, 0.25, 0.25], 7
    )
    assert by_chunk == {"report.md-2": "validation", "report.md-3": expected["report.md-3"]}


def test_import_autodidact_maps_by_answer_never_by_their_pickle(run_dir: Path, tmp_path: Path) -> None:
    ad = _write(
        tmp_path / "questions.json",
        [
            {
                "chunk_id": 0,
                "question": "What was the command module named?",
                "answer": "Odyssey",
                "difficulty": "Hard",
            },
            {
                "chunk_id": 3,
                "question": "Which ship recovered the crew?",
                "answer": "Iwo Jima",
                "difficulty": "weird",
            },
        ],
        jsonl=False,
    )
    (tmp_path / "chunks.pkl").write_bytes(b"not a pickle we would ever load")
    result = import_questions(ad, run_dir, "autodidact", replace=True)
    assert [(q.chunk_id, q.difficulty) for q in result.imported] == [
        ("report.md-4", "hard"),
        ("board.md-0", "medium"),
    ]
    assert result.imported[0].metadata["imported"]["original_chunk_id"] == 0
    assert result.imported[1].metadata["imported"]["original_difficulty"] == "weird"
    assert [q.id for q in load_questions(run_dir / "questions.json")] == [q.id for q in result.imported]


def test_import_searchr1_prompt_and_golden_answers(run_dir: Path, tmp_path: Path) -> None:
    rows = [
        {
            "id": "train_0",
            "golden_answers": ["Space Center Houston", "Kennedy Space Center"],
            "prompt": [
                {
                    "role": "user",
                    "content": "Answer using <search>. Question: Where did Apollo 13 launch from?",
                }
            ],
            "data_source": "nq",
        },
        {
            "id": "train_1",
            "question": "What was damaged during detanking?",
            "reward_model": {"ground_truth": {"target": ["heater wiring insulation"]}},
        },
    ]
    result = import_questions(_write(tmp_path / "sr1.jsonl", rows), run_dir, "searchr1")
    assert [(q.question, q.answer, q.chunk_id) for q in result.imported] == [
        ("Where did Apollo 13 launch from?", "Kennedy Space Center", "report.md-0"),
        ("What was damaged during detanking?", "heater wiring insulation", "board.md-2"),
    ]
    assert result.imported[0].metadata["answers"] == rows[0]["golden_answers"]
    assert result.imported[0].metadata["imported"]["original_data_source"] == "nq"


def test_import_cli_exit_status_and_summary(run_dir: Path, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "q.jsonl",
        [
            {"question": "Which tank failed?", "answer": "oxygen tank 2"},
            {"question": "Unrelated?", "answer": "zebra"},
        ],
    )
    cmd = [
        sys.executable,
        "-m",
        "teacherforge.cli",
        "import",
        "--format",
        "jsonl",
        "--input",
        str(path),
        "--run-dir",
        str(run_dir),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "imported 1 question(s) (matched by: answer_exact 1" in proc.stderr
    assert "dropped [unmatched]" in proc.stderr and "'Unrelated?'" in proc.stderr
    bad = _write(tmp_path / "none.jsonl", [{"question": "Unrelated?", "answer": "zebra"}])
    proc = subprocess.run([*cmd[:7], str(bad), *cmd[8:]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "no question could be matched" in proc.stderr


def test_cli_constants_match() -> None:
    assert cmd_import.FORMATS == importers.FORMATS
    assert cmd_import.DEFAULT_MIN_SCORE == importers.DEFAULT_MIN_SCORE
