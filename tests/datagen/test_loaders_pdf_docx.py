"""PDF and DOCX loading on real-world-shaped files: encryption, damage, forms, scans, clean-up, notes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from teacherforge.datagen.loaders import load_corpus
from teacherforge.datagen.loaders_formats import FormatError, clean_pdf_pages, read_docx, read_pdf
from tests.datagen._docfactory import encrypt_pdf, make_pdf
from tests.datagen._realworld import DOCX_PARTS, PDF_ALGORITHMS, write_realworld_set


@pytest.fixture(scope="module")
def realworld(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("realworld")
    return folder, write_realworld_set(folder)


@pytest.fixture(scope="module")
def loaded(realworld: tuple[Path, dict[str, str]]) -> tuple[dict, dict[str, str]]:
    folder, _ = realworld
    result = load_corpus(folder)  # one call: a bad file never stops the others
    docs = {Path(d.source).name: d for d in result.documents}
    failures = {Path(f.path).name: f.reason for f in result.failures}
    return docs, failures


def test_every_file_loads_or_fails_alone_as_expected(realworld, loaded) -> None:
    _, expected = realworld
    docs, failures = loaded
    assert len(expected) >= 15
    outcome = {name: "loads" for name in docs} | {name: "fails" for name in failures}
    assert outcome == expected
    for name, reason in failures.items():
        assert reason and "\n" not in reason and len(reason) < 200, (name, reason)


def test_encrypted_pdfs_open_with_an_empty_user_password_and_fail_without_it(loaded) -> None:
    docs, failures = loaded
    for tag in PDF_ALGORITHMS:
        doc = docs[f"enc_{tag}_open.pdf"]
        assert doc.text == "Encrypted manual page.\nStill readable text."
        assert doc.metadata["encrypted"] is True
        reason = failures[f"enc_{tag}_locked.pdf"]
        assert "password is required" in reason and "qpdf --decrypt" in reason


@pytest.mark.parametrize("algorithm", ["AES-128", "AES-256-R5", "AES-256"])
def test_aes_without_cryptography_fails_naming_the_install(monkeypatch, algorithm: str) -> None:
    import pypdf._encryption as encryption
    from pypdf._crypt_providers import _fallback

    data = encrypt_pdf(make_pdf(["Readable text."]), "", algorithm)
    for name in ("CryptAES", "aes_cbc_decrypt", "aes_ecb_decrypt"):  # as if cryptography were absent
        monkeypatch.setattr(encryption, name, getattr(_fallback, name))
    with pytest.raises(FormatError, match="pip install cryptography"):
        read_pdf(Path("x.pdf"), data)


def test_damaged_truncated_scanned_and_empty_pdfs(loaded) -> None:
    docs, failures = loaded
    assert docs["damaged_xref.pdf"].text == "First page of a damaged file.\n\nSecond page of it."
    one_bad = docs["one_bad_page.pdf"]
    assert one_bad.text == "First page of a damaged file." and one_bad.metadata["unreadable_pages"] == [2]
    assert "the file may be truncated; re-download" in failures["truncated.pdf"]
    assert "no extractable text" in failures["scanned.pdf"] and "OCR" in failures["scanned.pdf"]
    assert "no extractable text" in failures["blank_page.pdf"]
    assert failures["empty.pdf"] == "empty file (0 bytes)"
    with pytest.raises(FormatError, match="empty file"):
        read_pdf(Path("empty.pdf"), b"")


def test_form_field_values_are_in_the_text(loaded) -> None:
    form = loaded[0]["form.pdf"]
    assert form.text == "Application form\n\nForm fields:\napplicant: Ada Byron"
    assert form.metadata["form_fields"] == 1


def test_report_pdf_is_cleaned(loaded) -> None:
    report = loaded[0]["report.pdf"]
    assert report.text == (
        "The first check is done at dawn, a well-known rule. We remind the crew.\n\n"
        "A flow meter shows efficient use of oxygen.\nSelf-\nevident results need no test.\n\n"
        "The last page is a well-known summary."
    )
    assert report.metadata["pages"] == 3


def test_mangled_pdfs_only_ever_raise_format_error() -> None:
    good = encrypt_pdf(make_pdf(["Some text on page one.", "And on page two."]), "", "RC4-128")
    rng = random.Random(0)
    for _ in range(60):
        data = bytearray(good)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(9, len(data))] = rng.randrange(256)
        cut = rng.choice([len(data), rng.randrange(10, len(data))])
        try:
            text, _ = read_pdf(Path("m.pdf"), bytes(data[:cut]))
        except FormatError as exc:
            assert "\n" not in str(exc)
        else:
            assert isinstance(text, str)


# --- clean-up rules on plain strings ---------------------------------------------------


def test_ligatures_become_letters_and_nothing_else_is_nfkc_normalised() -> None:
    assert clean_pdf_pages(["ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ"]) == "ff fi fl ffi ffl st st"
    assert clean_pdf_pages(["x² ½ ＡＢ"]) == "x² ½ ＡＢ"


def test_private_use_code_points_are_removed() -> None:
    assert clean_pdf_pages(["use \ue001 of \uf8ffit\U000f0001"]) == "use of it"


def test_dehyphenation_joins_lowercase_fragments_only() -> None:
    assert clean_pdf_pages(["we re-\nmind you"]) == "we remind you"
    assert clean_pdf_pages(["we re- \n  mind you"]) == "we remind you"  # spaces around the break
    assert clean_pdf_pages(["soft\u00ad\nHyphen"]) == "softHyphen"  # a soft hyphen always joins
    assert clean_pdf_pages(["Self-\nevident"]) == "Self-\nevident"  # capitalised fragment: kept
    assert clean_pdf_pages(["COVID-\n19 cases"]) == "COVID-\n19 cases"
    assert clean_pdf_pages(["a dash -\nthen"]) == "a dash -\nthen"  # no word before the hyphen
    assert clean_pdf_pages(["a well-\nknown fact"]) == "a wellknown fact"  # the documented limit
    assert clean_pdf_pages(["well-known.", "a well-\nknown fact"]) == "well-known.\n\na well-known fact"
    assert clean_pdf_pages(["page one re-", "mind"]) == "page one re-\n\nmind"  # never across pages


def test_running_headers_footers_and_page_numbers_are_removed() -> None:
    bodies = ["Alpha one.\nAlpha two.", "Bravo one.\nBravo two.", "Charlie.\nDelta.", "Echo one.\nEcho two."]
    pages = [f"ACME Manual\nRevision {i}\n{body}\nPage {i} of 4" for i, body in enumerate(bodies, 1)]
    assert clean_pdf_pages(pages) == "\n\n".join(bodies)  # two-line header: peeled in two rounds
    pages = [f"{body}\n{i}" for i, body in enumerate(bodies, 1)]  # bare page numbers
    assert clean_pdf_pages(pages) == "\n\n".join(bodies)
    # fewer than 3 pages, or a line on fewer than 60% of the pages: kept
    assert clean_pdf_pages(["Title\nA", "Title\nB"]) == "Title\nA\n\nTitle\nB"
    pages = ["Title\nA", "Other\nB", "More\nC", "Title\nD", "Last\nE"]  # 2 of 5 pages = 40%
    assert clean_pdf_pages(pages) == "\n\n".join(pages)


# --- DOCX ----------------------------------------------------------------------------


def test_docx_header_footer_footnote_comment_once(loaded) -> None:
    notes = loaded[0]["notes.docx"]
    for part, text in DOCX_PARTS.items():
        assert notes.text.count(text) == 1, part  # two sections, one header definition
    assert notes.text.startswith(DOCX_PARTS["body"] + "\n\nSecond section text.\n\nHeaders:\n")
    assert "Footnotes:\n[1] " + DOCX_PARTS["footnote"] in notes.text
    assert notes.metadata == {"format": "docx", "headers": 2, "footers": 1, "footnotes": 1, "comments": 1}


def test_broken_docx_files_fail_with_a_reason(loaded) -> None:
    failures = loaded[1]
    assert failures["not_a_zip.docx"].startswith("not a valid .docx")
    assert failures["broken_xml.docx"].startswith("unreadable .docx (XMLSyntaxError")
    assert failures["protected.docx"].startswith("password-protected .docx")
    with pytest.raises(FormatError, match="empty file"):
        read_docx(Path("e.docx"), b"")
