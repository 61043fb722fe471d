"""A corpus of bad inputs: each bad file is reported with its path and a reason, the good
files are still loaded, and the result is marked partial."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from teacherforge.datagen import loaders
from teacherforge.datagen.loaders import format_load_summary, load_corpus
from tests.datagen._docfactory import make_docx, make_encrypted_pdf, make_pdf

GOOD_PDF = make_pdf(["Apollo 13 was the seventh crewed mission.", "The oxygen tank failed."])


def build_bad_corpus(root: Path) -> dict[str, str]:
    """Write good and bad files; return {failure path (relative): expected reason fragment}."""
    root.mkdir()
    w = lambda name, data: (root / name).write_bytes(data)  # noqa: E731
    # good files, one per format
    w("good.txt", b"A good text file.")
    w("good.md", b"# Good\n\nMarkdown body.")
    w("good.pdf", GOOD_PDF)
    make_docx(root / "good.docx", ["A good docx paragraph."])
    w("good.html", b"<p>Good <i>html</i>.</p>")
    w("cp1252.txt", "Ã  la carte — déjà vu".encode("cp1252"))  # non-UTF-8: decoded, not a failure
    depth = 30_000
    w("deep.html", ("<div>" * depth + "bottom of a deep tree" + "</div>" * depth).encode())
    (root / "chapter.txt").mkdir()  # a directory named like a file: walked into
    w("chapter.txt/inside.md", b"Inside a directory named like a file.")

    expected = {
        "empty.txt": "empty file (0 bytes)",
        "blank.md": "no text after extraction",
        "binary.txt": "binary content",
        "png_as.md": "binary content",
        "nuls.html": "binary content",
        "bad_bom.txt": "byte-order mark but does not decode",
        "script_only.html": "no text after extraction",
        "truncated.pdf": "the file may be truncated",
        "encrypted.pdf": "encrypted PDF: a password is required",
        "not_really.pdf": "not a PDF",
        "scanned.pdf": "no extractable text",
        "zero.docx": "empty file (0 bytes)",
        "fake.docx": "not a valid .docx",
        "empty.jsonl": "empty file (0 bytes)",
        "lines.jsonl:2": "invalid JSON",
        "lines.jsonl:3": "expected an object",
        "lines.jsonl:4": "no string field 'text'",
        "lines.jsonl:5": "duplicate 'id' 'a'",
        "lines.jsonl:6": "not UTF-8",
        "lines.jsonl:7": "field 'text' is empty",
        "huge.txt": "over max_bytes=20.0 MB",
        "loop": "symlink loop",
        "self.txt": "symlink loop",
        "dangling.md": "broken symlink",
        "fifo.txt": "not a regular file",
        "locked.txt": "permission denied",
    }
    w("empty.txt", b"")
    w("blank.md", b"   \n\n\t \n")
    w("binary.txt", bytes(range(256)) * 8)
    w("png_as.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    w("nuls.html", b"<p>\x00\x00\x00\x00</p>")
    w("bad_bom.txt", b"\xff\xfeA\x00\x00\xd8")  # UTF-16 BOM, then a lone surrogate
    w("script_only.html", b"<html><script>var x = 1;</script><style>p{}</style></html>")
    w("truncated.pdf", GOOD_PDF[: len(GOOD_PDF) // 2])
    w("encrypted.pdf", make_encrypted_pdf(["Top secret."], user_password="hunter2"))
    w("not_really.pdf", b"just some text pretending to be a pdf")
    w("scanned.pdf", make_pdf([""]))
    w("zero.docx", b"")
    w("fake.docx", b"plain text, not a zip package")
    w("empty.jsonl", b"")
    lines = [
        json.dumps({"id": "a", "text": "first good line"}).encode(),
        b'{"id": "b", "text": "broken',
        b"[1, 2, 3]",
        json.dumps({"id": "c", "body": "wrong field"}).encode(),
        json.dumps({"id": "a", "text": "duplicate id"}).encode(),
        b'{"id": "d", "text": "caf\xe9"}',
        json.dumps({"id": "e", "text": "  "}).encode(),
        json.dumps({"id": "f", "text": "last good line"}).encode(),
    ]
    w("lines.jsonl", b"\n".join(lines) + b"\n")
    w("questions.jsonl", b'{"question": "q1", "answer": "a"}\n{"question": "q2", "answer": "b"}\n')
    with open(root / "huge.txt", "wb") as fh:  # 50 MB of real text
        block = b"The quick brown fox jumps over the lazy dog. " * 1000 + b"\n"
        for _ in range(50_000_000 // len(block) + 1):
            fh.write(block)
    os.symlink(".", root / "loop")  # directory symlink back to the root
    os.symlink("self.txt", root / "self.txt")  # a file symlink pointing at itself
    os.symlink("missing.md", root / "dangling.md")
    os.mkfifo(root / "fifo.txt")  # opening it for reading would block forever
    w("locked.txt", b"secret")
    os.chmod(root / "locked.txt", 0)
    w("data.xyz", b"unknown type")
    w("Makefile", b"all:")
    return expected


@pytest.fixture()
def bad_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "bad"
    expected = build_bad_corpus(root)
    if os.geteuid() == 0:  # root ignores file modes: make the OS boundary refuse the read instead
        real = loaders.read_bytes

        def read_bytes(path: Path) -> bytes:
            if path.name == "locked.txt":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(loaders, "read_bytes", read_bytes)
    yield root, expected
    os.chmod(root / "locked.txt", 0o644)


@pytest.mark.timeout(120)
def test_bad_inputs_are_reported_and_good_files_load(bad_corpus: tuple[Path, dict[str, str]]) -> None:
    root, expected = bad_corpus
    assert len(expected) >= 20
    result = load_corpus(root)

    assert result.partial
    got = {os.path.relpath(f.path, root): f.reason for f in result.failures}
    assert set(got) == set(expected), f"unexpected failures: {set(got) ^ set(expected)}"
    skip_reasons = {os.path.relpath(f.path, root): f.reason for f in result.skipped}
    assert "question set" in skip_reasons["questions.jsonl"], "a question file is not corpus"
    for rel, fragment in expected.items():
        assert fragment in got[rel], f"{rel}: {got[rel]!r} lacks {fragment!r}"
        assert "\n" not in got[rel] and len(got[rel]) < 200  # one line, human-sized
    for failure in result.failures:  # paths are real paths under the corpus (plus :line for jsonl)
        assert (
            Path(failure.path.split(".jsonl:")[0] + (".jsonl" if ".jsonl:" in failure.path else "")).parent
            == root
        )

    docs = {d.doc_id: d for d in result.documents}
    assert sorted(docs) == sorted(
        [
            "good.txt",
            "good.md",
            "good.pdf",
            "good.docx",
            "good.html",
            "cp1252.txt",
            "deep.html",
            "chapter.txt/inside.md",
            "lines.jsonl#a",
            "lines.jsonl#f",
        ]
    )
    assert (
        docs["cp1252.txt"].text == "Ã  la carte — déjà vu"
        and docs["cp1252.txt"].metadata["encoding"] == "cp1252"
    )
    assert docs["deep.html"].text == "bottom of a deep tree"
    assert "oxygen tank failed" in docs["good.pdf"].text
    assert docs["lines.jsonl#f"].metadata["line"] == 8

    skipped = sorted(os.path.relpath(s.path, root) for s in result.skipped)
    assert skipped == ["Makefile", "data.xyz", "questions.jsonl"]
    summary = format_load_summary(result, max_listed=100)
    assert summary.startswith(f"PARTIAL: loaded {len(docs)} document(s)")
    assert f"failed: {root / 'encrypted.pdf'}: encrypted PDF" in summary


def test_size_cap_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 5000, encoding="utf-8")
    (tmp_path / "big.jsonl").write_text(
        json.dumps({"text": "y" * 5000}) + "\n" + json.dumps({"text": "ok"}) + "\n"
    )
    result = load_corpus(tmp_path, max_bytes=1000)
    assert [d.doc_id for d in result.documents] == ["big.jsonl#2"]
    reasons = {os.path.relpath(f.path, tmp_path): f.reason for f in result.failures}
    assert reasons == {
        "big.jsonl:1": "line is over 1,000 bytes (max_bytes); line skipped",
        "big.txt": "file is 5,000 bytes, over max_bytes=1,000 bytes; split it or raise datagen.max_bytes",
    }
    assert [d.doc_id for d in load_corpus(tmp_path, max_bytes=10_000).documents] == [
        "big.jsonl#1",
        "big.jsonl#2",
        "big.txt",
    ]


@pytest.mark.slow
def test_cli_exit_status_tells_partial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`teacherforge index` on a corpus with bad files: summary lines on stderr, exit status 3."""
    from teacherforge.cli import main as cli_main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("Apollo 13 lost an oxygen tank and the crew returned in the lunar module.")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "bad.pdf").write_bytes(GOOD_PDF[:200])
    args = [
        "index",
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "idx"),
        "--set",
        "retrieval.kind=bm25",
        "--set",
        "datagen.chunking.min_chars=10",
    ]
    assert cli_main(args) == 3
    err = capsys.readouterr().err
    assert "PARTIAL: loaded 1 document(s) (md 1); 2 failure(s), 0 skipped" in err
    assert f"failed: {corpus / 'bad.pdf'}: unreadable PDF" in err
