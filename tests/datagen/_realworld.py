"""A real-world-shaped set of PDF and DOCX files, written by the tests themselves.

:func:`write_realworld_set` writes the files users actually bring (encrypted PDFs of every
standard algorithm with and without a user password, a damaged xref table, a truncated
download, a PDF with one unreadable page, a filled form, a scanned page, an empty file, a long report with running
headers, ligatures and hyphenation, a Word file with header/footer/footnote/comment, broken
Word files, a password-protected one) and says which of them must load and which must fail alone. Base documents come
from :mod:`tests.datagen._docfactory`; this module only alters them.
"""

from __future__ import annotations

import io
from pathlib import Path

from tests.datagen._docfactory import encrypt_pdf, make_docx, make_pdf

PDF_ALGORITHMS = {  # file-name tag → pypdf algorithm (revision)
    "rc4_40_r2": "RC4-40",
    "rc4_128_r3": "RC4-128",
    "aes_128_r4": "AES-128",
    "aes_256_r5": "AES-256-R5",
    "aes_256_r6": "AES-256",
}

REPORT_PAGES = [  # cp1252 € ‚ ƒ „ stand for the glyphs fi fl ffi and a private-use symbol (see _with_glyphs)
    "Field Manual\nThe \u20acrst check is done at dawn, a well-known rule. We re-\nmind the crew.\nPage 1 of 3",
    "Field Manual\nA \u201aow meter shows e\u0192cient use \u201e of oxygen.\n"
    "Self-\nevident results need no test.\nPage 2 of 3",
    "Field Manual\nThe last page is a well-\nknown summary.\nPage 3 of 3",
]
"""The three pages of ``report.pdf``; after loading: header and page lines gone, ``first``,
``flow``, ``efficient``, ``remind``, ``well-known`` restored, ``Self-⏎evident`` untouched."""

DOCX_PARTS = {
    "body": "The body paragraph of the memo.",
    "header": "Quarterly memo header",
    "first_header": "Cover page header",
    "footer": "Internal use only",
    "footnote": "Source: the inventory of March.",
    "comment": "Please check this figure.",
}


def write_realworld_set(folder: Path) -> dict[str, str]:
    """Write the set into ``folder`` and return ``{file name: "loads" | "fails"}``."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    def put(name: str, data: bytes, outcome: str) -> None:
        (folder / name).write_bytes(data)
        expected[name] = outcome

    one_page = make_pdf(["Encrypted manual page.\nStill readable text."])
    for tag, algorithm in PDF_ALGORITHMS.items():
        put(f"enc_{tag}_open.pdf", encrypt_pdf(one_page, "", algorithm), "loads")
        put(f"enc_{tag}_locked.pdf", encrypt_pdf(one_page, "secret", algorithm), "fails")
    two_pages = make_pdf(["First page of a damaged file.", "Second page of it."])
    put("damaged_xref.pdf", damage_xref(two_pages), "loads")
    put("one_bad_page.pdf", break_last_page(two_pages), "loads")
    put("truncated.pdf", two_pages[: len(two_pages) * 2 // 3], "fails")
    put("form.pdf", add_text_field(make_pdf(["Application form"]), "applicant", "Ada Byron"), "loads")
    put("scanned.pdf", scanned_pdf(), "fails")
    put("blank_page.pdf", make_pdf([""]), "fails")
    put("empty.pdf", b"", "fails")
    put("report.pdf", _with_glyphs(make_pdf(REPORT_PAGES)), "loads")
    make_notes_docx(folder / "notes.docx")
    expected["notes.docx"] = "loads"
    put("not_a_zip.docx", b"PK\x03\x04 this is not really a zip", "fails")
    put("broken_xml.docx", _break_docx_xml(folder / "notes.docx"), "fails")
    ole_header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word saves a password-protected file in this container
    put("protected.docx", ole_header + bytes(504), "fails")
    return expected


def damage_xref(pdf: bytes) -> bytes:
    """``pdf`` with its ``startxref`` offset pointing nowhere and its xref entries shifted."""
    head, _, _ = pdf.rpartition(b"startxref\n")
    start = head.index(b"xref\n0 ")
    table = head[start:].replace(b"0000000", b"0000001")  # every offset off by 10 million
    return head[:start] + table + b"startxref\n999999\n%%EOF\n"


def break_last_page(pdf: bytes) -> bytes:
    """``pdf`` whose last content stream declares a filter no reader knows (that page is lost)."""
    start = pdf.rindex(b"<< /Length ")
    end = pdf.index(b">>", start)
    return pdf[:start] + pdf[start:end] + b"/Filter /NoSuchDecode " + pdf[end:]


def add_text_field(pdf: bytes, name: str, value: str) -> bytes:
    """``pdf`` with one filled AcroForm text field (a widget on page 1)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    widget = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject("/Tx"),
            NameObject("/T"): TextStringObject(name),
            NameObject("/V"): TextStringObject(value),
            NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (72, 600, 300, 620)]),
        }
    )
    annotation = writer.add_annotation(page_number=0, annotation=widget)
    writer.root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject([annotation.indirect_reference])}
    )
    return _written(writer)


def scanned_pdf() -> bytes:
    """A one-page PDF holding only an image (what a scanner writes), via Pillow."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (240, 120), 255)
    ImageDraw.Draw(image).rectangle((20, 20, 220, 40), fill=0)  # a "line of text" as pixels
    buf = io.BytesIO()
    image.save(buf, format="PDF")
    return buf.getvalue()


def make_notes_docx(path: Path) -> Path:
    """A .docx (from ``make_docx``) with a header, a first-page header, a footer, a footnote
    and a comment, and a second section that inherits the header and footer."""
    import docx
    from docx.enum.section import WD_SECTION
    from docx.opc.constants import CONTENT_TYPE as CT
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    make_docx(path, [DOCX_PARTS["body"]])
    document = docx.Document(str(path))
    section = document.sections[0]
    section.header.paragraphs[0].text = DOCX_PARTS["header"]
    section.footer.paragraphs[0].text = DOCX_PARTS["footer"]
    section.different_first_page_header_footer = True
    section.first_page_header.paragraphs[0].text = DOCX_PARTS["first_header"]
    document.add_section(WD_SECTION.NEW_PAGE)  # linked to the previous: same header and footer
    document.add_paragraph("Second section text.")
    body = document.paragraphs[0]
    document.add_comment(body.runs, text=DOCX_PARTS["comment"], author="Reviewer", initials="R")
    reference = OxmlElement("w:footnoteReference")
    reference.set(qn("w:id"), "1")
    body.add_run()._r.append(reference)
    footnotes = Part(
        PackURI("/word/footnotes.xml"),
        CT.WML_FOOTNOTES,
        _footnotes_xml(DOCX_PARTS["footnote"]),
        document.part.package,
    )
    document.part.relate_to(footnotes, RT.FOOTNOTES)
    document.save(str(path))
    return path


def _footnotes_xml(text: str) -> bytes:
    """A ``word/footnotes.xml`` with Word's two separator notes and one real footnote (id 1)."""
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    separators = "".join(
        f'<w:footnote w:type="{kind}" w:id="{i}"><w:p><w:r><w:{kind}/></w:r></w:p></w:footnote>'
        for i, kind in ((-1, "separator"), (0, "continuationSeparator"))
    )
    note = f'<w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> {text}</w:t></w:r></w:p></w:footnote>'
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes xmlns:w="{ns}">{separators}{note}</w:footnotes>'.encode()


def _break_docx_xml(good: Path) -> bytes:
    """A copy of a valid .docx whose ``word/document.xml`` is cut in half (a valid zip)."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[: len(data) // 2] if item.filename == "word/document.xml" else data)
    return out.getvalue()


def _with_glyphs(pdf: bytes) -> bytes:
    """``pdf`` whose font maps cp1252 bytes 0x80 0x82 0x83 0x84 to the glyphs fi, fl, ffi and
    a private-use code point, so pypdf extracts ``ﬁ ﬂ ﬃ`` and U+E001 as real PDFs do."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    differences = [128, "/fi", 130, "/fl", 131, "/ffi", 132, "/uniE001"]
    encoding = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Encoding"),
            NameObject("/BaseEncoding"): NameObject("/WinAnsiEncoding"),
            NameObject("/Differences"): ArrayObject(
                NumberObject(d) if isinstance(d, int) else NameObject(d) for d in differences
            ),
        }
    )
    font = writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()  # one font object for all pages
    font[NameObject("/Encoding")] = encoding
    return _written(writer)


def _written(writer: object) -> bytes:
    buf = io.BytesIO()
    writer.write(buf)  # type: ignore[attr-defined]
    return buf.getvalue()
