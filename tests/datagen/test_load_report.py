"""Every corpus file accounted for: `teacherforge datagen --corpus DIR` without a config, on screen,
in load_report.jsonl, and in the exit status (even when every file fails or no question comes out)."""

from __future__ import annotations

import json

from teacherforge.cli import main
from teacherforge.workspace import read_jsonl

PROSE = (
    "The harbour office of Lindqvist opened in 1921 under Captain Mara Holt. It registered 340 ships "
    "in its first year and kept a ledger of every cargo. "
)
FAST = ["--set", "datagen.paraphrase.enabled=false", "--set", "retrieval.kind=bm25", "--no-progress"]


def _corpus(root):
    root.mkdir()
    (root / "guide.md").write_text("# Guide\n\n" + PROSE * 4)
    (root / "notes.txt").write_text("Tide tables were printed by Ansel Wick in 1933. " * 6)
    (root / "page.html").write_text(
        "<html><body><p>" + "The pier lamp was lit by Ida Sorn in 1950. " * 5 + "</p></body></html>"
    )
    (root / "mirror.md").write_text("# Guide\n\n" + PROSE * 4)  # the same text as guide.md
    (root / "tiny.txt").write_text("Too short.")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf")
    (root / "image.xyz").write_bytes(b"\x00\x01")
    questions = [{"id": "q1", "question": "Who opened the office?", "answer": "Mara Holt"}]
    (root / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    return root


def test_datagen_without_a_config_reads_every_format_and_names_every_problem_file(tmp_path, capsys):
    corpus, run = _corpus(tmp_path / "docs"), tmp_path / "run"
    code = main(["datagen", "--corpus", str(corpus), "--run-dir", str(run), *FAST])
    out = capsys.readouterr().out
    assert code == 3, "a file failed: partial"
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in read_jsonl(run / "load_report.jsonl")}
    assert {name: r["status"] for name, r in rows.items()} == {
        "guide.md": "loaded",
        "notes.txt": "loaded",
        "page.html": "loaded",
        "mirror.md": "emptied",
        "tiny.txt": "emptied",
        "broken.pdf": "failed",
        "image.xyz": "skipped",
        "questions.jsonl": "skipped",
    }
    assert rows["mirror.md"]["reason"] == "every chunk duplicates text of guide.md"
    assert rows["tiny.txt"]["reason"].startswith("too short: 10 characters")
    assert "question set" in rows["questions.jsonl"]["reason"]
    assert rows["guide.md"]["chunks"] >= 1
    assert "files: loaded 3, emptied 2, failed 1, skipped 2, excluded by include/exclude 0" in out
    for name in ("mirror.md", "tiny.txt", "broken.pdf"):
        assert any(name in line and rows[name]["reason"] in line for line in out.splitlines()), name


def test_a_corpus_where_every_file_fails_says_why_in_one_line(tmp_path, capsys):
    corpus, run = tmp_path / "docs", tmp_path / "run"
    corpus.mkdir()
    (corpus / "a.pdf").write_bytes(b"%PDF-1.4\ngarbage")
    (corpus / "b.docx").write_bytes(b"not a zip")
    code = main(["datagen", "--corpus", str(corpus), "--run-dir", str(run), *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "failed 2" in err[0] and "a.pdf" in err[0] and "b.docx" in err[0] and "load_report.jsonl" in err[0]
    assert [r["status"] for r in read_jsonl(run / "load_report.jsonl")] == ["failed", "failed"]


def test_a_run_with_no_questions_exits_non_zero_with_the_reason(tmp_path, capsys):
    corpus, run = tmp_path / "docs", tmp_path / "run"
    corpus.mkdir()
    (corpus / "plain.txt").write_text("and so it goes on and on, as it was and as it is. " * 8)
    code = main(["datagen", "--corpus", str(corpus), "--run-dir", str(run), *FAST])
    err = capsys.readouterr().err
    assert code == 4 and "0 questions from 1 chunks" in err and "datagen.generator=cloze" in err


def test_languages_are_recorded_and_an_english_only_setup_is_warned(tmp_path, capsys):
    corpus, run = tmp_path / "docs", tmp_path / "run"
    corpus.mkdir()
    (corpus / "en.txt").write_text(PROSE * 3)
    german = (
        "Das Hafenamt von Lindqvist wurde 1921 unter Kapitänin Mara Holt eröffnet. Es verzeichnete im "
        "ersten Jahr 340 Schiffe und führte ein Buch über jede Ladung. "
    )
    (corpus / "de.txt").write_text(german * 3)
    (corpus / "de2.txt").write_text(german.replace("1921", "1922") * 3)
    assert main(["datagen", "--corpus", str(corpus), "--run-dir", str(run), *FAST]) == 0
    out = capsys.readouterr().out
    assert "languages: de 2, en 1" in out
    assert "WARNING: 2 of 3 documents are not English (de 2) but retrieval.embedder='minilm'" in out
    assert (
        "most documents are in 'de' but retrieval.bm25_stemmer='english': set retrieval.bm25_stemmer=german"
        in out
    )
    chunks = read_jsonl(run / "chunks.jsonl")
    assert {c["doc_id"]: c["metadata"]["language"] for c in chunks} == {
        "de.txt": "de",
        "de2.txt": "de",
        "en.txt": "en",
    }
    assert {r["path"]: r["language"] for r in read_jsonl(run / "load_report.jsonl")}["de.txt"] == "de"
