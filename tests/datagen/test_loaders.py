"""Loaders on real small files of every format, written in the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teacherforge.datagen import loaders, loaders_formats
from teacherforge.datagen.loaders import Document, LoadFailure, format_load_summary, load_corpus
from tests.datagen._docfactory import make_docx, make_encrypted_pdf, make_pdf


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "guides" / "deep").mkdir(parents=True)
    (root / "a.txt").write_text(
        "Plain text about the  service module.\n\n\n\n\nSecond paragraph.\n", encoding="utf-8"
    )
    (root / "guides" / "intro.md").write_text("# Intro\n\nThe LEM had *two* stages.\n", encoding="utf-8")
    (root / "guides" / "deep" / "page.html").write_text(
        "<html><head><title>Oxygen</title><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><h1>Tank 2</h1><p>The tank <b>failed</b> at 55:54.</p><ul><li>one</li><li>two</li></ul>"
        "<!-- hidden comment --></body></html>",
        encoding="utf-8",
    )
    (root / "old.htm").write_text("<p>Legacy page</p>", encoding="utf-8")
    (root / "report.pdf").write_bytes(
        make_pdf(
            ["Apollo 13 launched in 1970.\nIt carried three crew.", "Page two: the crew returned safely."]
        )
    )
    (root / "open_encrypted.pdf").write_bytes(make_encrypted_pdf(["Readable without a password."], ""))
    make_docx(
        root / "memo.docx",
        ["First memo paragraph.", "Second memo paragraph."],
        table=[["Item", "Value"], ["Oxygen", "low"]],
        title="Memo",
    )
    lines = [
        {"id": "q1", "text": "Doc one text.", "category": "faq", "author": "kim"},
        {"text": "Doc without id.", "topic": "power"},
    ]
    (root / "docs.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return root


def _by_id(docs: list[Document]) -> dict[str, Document]:
    return {d.doc_id: d for d in docs}


def test_every_format_loads(corpus: Path) -> None:
    result = load_corpus(corpus, metadata={"category": "manuals", "topic": None})
    assert result.failures == [] and not result.partial
    docs = _by_id(result.documents)
    assert sorted(docs) == sorted(
        [
            "a.txt",
            "guides/intro.md",
            "guides/deep/page.html",
            "old.htm",
            "report.pdf",
            "open_encrypted.pdf",
            "memo.docx",
            "docs.jsonl#q1",
            "docs.jsonl#2",
        ]
    )
    assert docs["a.txt"].text == "Plain text about the  service module.\n\nSecond paragraph."
    assert docs["a.txt"].metadata == {"category": "manuals", "format": "txt", "encoding": "utf-8"}
    assert docs["a.txt"].source == str(corpus / "a.txt")
    assert "The LEM had two stages." in docs["guides/intro.md"].text
    html = docs["guides/deep/page.html"]
    assert html.text == "Tank 2\nThe tank failed at 55:54.\n\none\ntwo"
    assert html.metadata["title"] == "Oxygen" and "alert" not in html.text and "hidden" not in html.text
    assert docs["old.htm"].metadata["format"] == "htm"
    pdf = docs["report.pdf"]
    assert "Apollo 13 launched in 1970." in pdf.text and "the crew returned safely" in pdf.text
    assert pdf.metadata["pages"] == 2
    assert "Readable without a password." in docs["open_encrypted.pdf"].text
    assert docs["open_encrypted.pdf"].metadata["encrypted"] is True
    memo = docs["memo.docx"]
    assert memo.text == "First memo paragraph.\n\nSecond memo paragraph.\n\nItem | Value\n\nOxygen | low"
    assert memo.metadata["title"] == "Memo"
    q1 = docs["docs.jsonl#q1"]
    assert q1.text == "Doc one text." and q1.source == str(corpus / "docs.jsonl")
    # line metadata overrides the config's; every other field is kept by default
    assert q1.metadata == {"category": "faq", "author": "kim", "format": "jsonl", "line": 1}
    assert docs["docs.jsonl#2"].metadata["topic"] == "power"


def test_order_is_deterministic_and_sorted(corpus: Path) -> None:
    first = [d.doc_id for d in load_corpus(corpus).documents]
    assert first == [d.doc_id for d in load_corpus(corpus).documents]
    files = [d.split("#")[0] for d in first]
    assert files == sorted(files)


def test_include_exclude_globs(corpus: Path) -> None:
    ids = [d.doc_id for d in load_corpus(corpus, include=["**/*.md", "*.txt"]).documents]
    assert ids == ["a.txt", "guides/intro.md"]
    ids = [d.doc_id for d in load_corpus(corpus, exclude=["guides/**", "*.jsonl", "*.pdf"]).documents]
    assert ids == ["a.txt", "memo.docx", "old.htm"]
    ids = [d.doc_id for d in load_corpus(corpus, include=["guides/*"]).documents]
    assert ids == ["guides/intro.md"]  # `*` does not cross directories


def test_single_file_and_jsonl_fields(corpus: Path) -> None:
    result = load_corpus(corpus / "docs.jsonl", jsonl_metadata_fields=["category"], metadata={"topic": "t"})
    docs = _by_id(result.documents)
    assert docs["docs.jsonl#q1"].metadata == {"topic": "t", "category": "faq", "format": "jsonl", "line": 1}
    custom = corpus / "custom.jsonl"
    custom.write_text(json.dumps({"key": "k9", "body": "Body text."}) + "\n", encoding="utf-8")
    result = load_corpus(custom, jsonl_text_field="body", jsonl_id_field="key")
    assert [(d.doc_id, d.text) for d in result.documents] == [("custom.jsonl#k9", "Body text.")]


def test_non_utf8_text_is_decoded_and_encoding_recorded(tmp_path: Path) -> None:
    (tmp_path / "cp.txt").write_bytes("Café — naïve “quotes”".encode("cp1252"))
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9 \x81 end")  # 0x81 is undefined in cp1252
    (tmp_path / "bom16.txt").write_bytes("utf-16 text é".encode("utf-16"))
    (tmp_path / "sjis.html").write_bytes(
        '<meta charset="shift_jis"><p>日本語のテキスト</p>'.encode("shift_jis")
    )
    docs = _by_id(load_corpus(tmp_path).documents)
    assert docs["cp.txt"].text == "Café — naïve “quotes”" and docs["cp.txt"].metadata["encoding"] == "cp1252"
    assert docs["latin.txt"].text == "café  end" and docs["latin.txt"].metadata["encoding"] == "latin-1"
    assert (
        docs["sjis.html"].text == "日本語のテキスト" and docs["sjis.html"].metadata["encoding"] == "shift_jis"
    )
    assert docs["bom16.txt"].text == "utf-16 text é" and docs["bom16.txt"].metadata["encoding"] == "utf-16"


def test_normalisation() -> None:
    raw = "e\u0301t\u00e9\x00\x1b[0m\r\nline\t two   \r\r\r\rend\f"
    assert loaders_formats.clean_extracted_text(raw) == "\u00e9t\u00e9[0m\nline\t two\n\nend"


def test_summary_lists_failures_and_skips(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    result = load_corpus(tmp_path)
    assert result.partial
    assert result.failures == [LoadFailure(str(tmp_path / "empty.md"), "empty file (0 bytes)")]
    text = format_load_summary(result)
    assert text.splitlines()[0] == "PARTIAL: loaded 1 document(s) (txt 1); 1 failure(s), 1 skipped"
    assert f"failed: {tmp_path / 'empty.md'}: empty file (0 bytes)" in text
    assert f"skipped: {tmp_path / 'image.png'}: unknown extension '.png'" in text
    assert result.counts() == {"documents": 1, "format.txt": 1, "failures": 1, "skipped": 1, "excluded": 0}


def test_missing_corpus_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_from_config(corpus: Path) -> None:
    from teacherforge.config.datagen import DatagenConfig

    cfg = DatagenConfig(corpus=str(corpus), include=["*.txt"], category="c")
    result = loaders.load_corpus_from_config(cfg)
    assert [(d.doc_id, d.metadata["category"]) for d in result.documents] == [("a.txt", "c")]


def test_directory_reached_twice_is_loaded_once(corpus: Path) -> None:
    import os

    os.symlink("guides", corpus / "zz_alias")
    result = load_corpus(corpus, include=["**/*.md"])
    assert [d.doc_id for d in result.documents] == ["guides/intro.md"]
    assert [(Path(s.path).name, s.reason) for s in result.skipped] == [
        ("zz_alias", "directory already loaded through another path")
    ]
    assert not result.partial
