"""Per-format text extraction for the corpus loaders, and the shared text normalisation.

Each reader takes a file's bytes-on-disk path and returns ``(text, metadata)`` or raises
:class:`FormatError` with a one-line reason a user can act on. Readers never download
anything: PDF through pypdf, DOCX through python-docx, HTML through BeautifulSoup with the
standard library parser.

>>> clean_extracted_text("Cafe\\u0301\\x00 ok\\r\\n\\r\\n\\r\\n\\r\\nnext\\x07")
'Café ok\\n\\nnext'
>>> decode_text("caf\\xe9".encode("cp1252"))
('café', 'cp1252')
"""

from __future__ import annotations

import codecs
import logging
import math
import re
import unicodedata
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .loaders_markdown import read_markdown

Extracted = tuple[str, dict[str, Any]]


class FormatError(ValueError):
    """A file could not be turned into text; the message is the one-line reason."""


# --- text normalisation -------------------------------------------------------------

_KEEP_CONTROLS = {"\n", "\t"}
_NEWLINES = re.compile(r"\r\n?|[\v\f\u2028\u2029\x85]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def clean_extracted_text(text: str) -> str:
    """NFC-normalise, unify newlines, drop NULs/control characters, collapse blank-line runs.

    Tabs and newlines are kept; trailing spaces on a line are removed; three or more newlines
    (two or more blank lines) become one blank line; the result is stripped.
    """
    text = unicodedata.normalize("NFC", text.replace("\ufeff", ""))
    text = _NEWLINES.sub("\n", text)
    if any(unicodedata.category(c) == "Cc" and c not in _KEEP_CONTROLS for c in set(text)):
        text = "".join(c for c in text if c in _KEEP_CONTROLS or unicodedata.category(c) != "Cc")
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


# --- decoding of plain-text bytes --------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")


def looks_binary(data: bytes) -> bool:
    """True when ``data`` (a text file's first bytes) holds NULs or mostly control bytes."""
    sample = data[:8192]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls / len(sample) > 0.1


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode text bytes: a BOM's encoding, else UTF-8, else cp1252, else latin-1.

    Returns ``(text, encoding)``; raises :class:`FormatError` for binary content.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise FormatError(
                    f"starts with a {encoding} byte-order mark but does not decode ({exc.reason})"
                ) from exc
    if looks_binary(data):
        raise FormatError(
            "binary content (NUL or control bytes) in a text file; remove it or fix its extension"
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    for encoding in _FALLBACK_ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise FormatError("not valid UTF-8, cp1252 or latin-1 text")  # unreachable: latin-1 decodes any bytes


def read_text(path: Path, data: bytes) -> Extracted:
    """Plain text or Markdown (kept as is: Markdown syntax is readable text)."""
    text, encoding = decode_text(data)
    return text, {"encoding": encoding}


# --- HTML ---------------------------------------------------------------------------

_BLOCK_TAGS = (
    "address",
    "article",
    "aside",
    "blockquote",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tr",
    "ul",
    "br",
    "td",
    "th",
    "caption",
    "title",
)
_DROP_TAGS = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def read_html(path: Path, data: bytes) -> Extracted:
    """HTML → text: scripts/styles dropped, block elements on their own lines.

    Works on any nesting depth (the tree is walked iteratively, never recursively).
    """
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction
    from bs4.element import NavigableString

    text, encoding = decode_text(data)
    if encoding in _FALLBACK_ENCODINGS:  # not UTF-8: honour a declared <meta charset> if there is one
        from bs4 import UnicodeDammit

        dammit = UnicodeDammit(data, is_html=True)
        if dammit.unicode_markup is not None and dammit.declared_html_encoding:
            text, encoding = dammit.unicode_markup, str(dammit.original_encoding)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_DROP_TAGS):
        tag.extract()
    skip = (Comment, Declaration, Doctype, ProcessingInstruction)
    parts: list[str] = []
    for node in soup.descendants:  # iterative: follows next_element links
        if isinstance(node, NavigableString):
            if not isinstance(node, skip):
                parts.append(_SPACES.sub(" ", str(node).replace("\n", " ")))
        elif node.name in _BLOCK_TAGS:
            parts.append("\n")
    lines = (line.strip() for line in "".join(parts).split("\n"))
    body = "\n".join(lines)
    meta: dict[str, Any] = {"encoding": encoding}
    if title:
        meta["title"] = title
    return body, meta


# --- PDF ----------------------------------------------------------------------------

_PDF_PASSWORD = (
    "encrypted PDF: a password is required; decrypt it first (qpdf --decrypt --password=... in.pdf out.pdf)"
)
_PDF_NEEDS_CRYPTO = "encrypted PDF uses AES, which needs the cryptography package; pip install cryptography"


def read_pdf(path: Path, data: bytes) -> Extracted:
    """PDF → text with pypdf: pages cleaned by :func:`clean_pdf_pages`, then form-field values.

    An encrypted PDF whose user password is empty opens (RC4 and AES, revisions 2-6;
    ``metadata["encrypted"] = True``); one that needs a password fails with how to decrypt it.
    A damaged xref table is rebuilt by pypdf; a truncated or corrupt file, a PDF with no
    extractable text (scanned images) and an empty file fail with a one-line reason. Nothing
    but :class:`FormatError` leaves this function for a bad file. A page whose text cannot be
    extracted is skipped and listed in ``metadata["unreadable_pages"]`` (1-based).
    """
    from pypdf.errors import DependencyError, FileNotDecryptedError

    if not data:
        raise FormatError("empty file (0 bytes), not a valid PDF")
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise FormatError("not a PDF (no %PDF header)")
    # pypdf logs what it recovers from as errors (whole font encoding tables); failures are ours to report
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    errors = _pdf_errors()
    pages: list[str] = []
    unreadable: list[int] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader, encrypted = _open_pdf(data)
            for number, page in enumerate(reader.pages, 1):
                try:
                    pages.append(page.extract_text() or "")
                except FileNotDecryptedError:
                    raise
                except errors:  # one bad content stream: keep the other pages
                    unreadable.append(number)
            fields = _pdf_form_lines(reader)
    except FormatError:
        raise
    except DependencyError as exc:
        reason = _PDF_NEEDS_CRYPTO if "AES" in str(exc) or "cryptography" in str(exc) else None
        raise FormatError(reason or f"PDF needs an optional package: {_one_line(exc)}") from exc
    except FileNotDecryptedError as exc:
        raise FormatError(_PDF_PASSWORD) from exc
    except errors as exc:
        raise FormatError(_unreadable_pdf(data, exc)) from exc
    text = clean_pdf_pages(pages)
    if fields:
        text = f"{text}\n\nForm fields:\n" + "\n".join(fields)
    if not text.strip():
        if unreadable:
            raise FormatError(
                f"unreadable PDF: no page's text could be extracted ({len(unreadable)} page(s)); "
                "the file may be corrupt: re-export it"
            )
        raise FormatError(
            f"PDF has no extractable text ({len(pages)} page(s); scanned images need OCR first, "
            "or the file is truncated)"
        )
    meta: dict[str, Any] = {"pages": len(pages) + len(unreadable)}
    if encrypted:
        meta["encrypted"] = True
    if fields:
        meta["form_fields"] = len(fields)
    if unreadable:
        meta["unreadable_pages"] = unreadable
    return text, meta


def _open_pdf(data: bytes) -> tuple[Any, bool]:
    """A pypdf reader over ``data`` and whether it was encrypted (opened with the empty password)."""
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)  # AES files need `cryptography` already here
    if not reader.is_encrypted:
        return reader, False
    if not reader.decrypt(""):
        raise FormatError(_PDF_PASSWORD)
    return reader, True


def _pdf_form_lines(reader: Any) -> list[str]:
    """``name: value`` for each filled AcroForm field (text, choice, checked boxes).

    A malformed form is ignored (the page text still loads).
    """
    from pypdf.generic import NameObject

    try:
        fields = reader.get_fields() or {}
    except _pdf_errors():
        return []
    lines = []
    for name, field in fields.items():
        value = field.get("/V") if isinstance(field, dict) else None
        if isinstance(value, NameObject):  # checkbox / radio state
            value = "" if value == "/Off" else value.lstrip("/")
        elif isinstance(value, list):  # multi-select choice
            value = ", ".join(str(v) for v in value)
        if isinstance(value, str) and value.strip():
            lines.append(f"{name}: {' '.join(value.split())}")
    return lines


def _unreadable_pdf(data: bytes, exc: BaseException) -> str:
    """The one-line reason for a PDF that pypdf could not parse (a missing %%EOF says truncated)."""
    detail = f"{type(exc).__name__}: {_one_line(exc)}"
    if b"%%EOF" not in data[-2048:]:
        return f"unreadable PDF ({detail}; no %%EOF at the end): the file may be truncated; re-download or re-export it"
    return f"unreadable PDF ({detail}): the file may be corrupt; re-export it, or repair it with qpdf"


def _pdf_errors() -> tuple[type[BaseException], ...]:
    """Exceptions pypdf raises on malformed input (its own, and builtins from deep in parsing)."""
    import struct

    from pypdf.errors import PyPdfError

    return (
        PyPdfError,
        ValueError,  # includes UnicodeDecodeError
        LookupError,  # KeyError, IndexError
        TypeError,
        AttributeError,
        ArithmeticError,
        NotImplementedError,  # unsupported filters
        OSError,
        AssertionError,
        RecursionError,
        struct.error,
        zlib.error,
    )


_LIGATURES = re.compile("[\ufb00-\ufb06]")  # ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ
_PUA = "\ue000-\uf8ff\U000f0000-\U0010ffff"  # private-use areas: BMP, planes 15-16
_PRIVATE_USE = re.compile(f" ?[{_PUA}]+(?= )|[{_PUA}]+")  # with one space when it stood between two
_HYPHEN_BREAK = re.compile(r"(\w+)([-\u2010\u00ad])[ \t]*\n[ \t]*(\w+)")
_COMPOUND = re.compile(r"\w+(?:[-\u2010]\w+)+")
_DIGIT_RUNS = re.compile(r"\d+")
RUNNING_LINE_SHARE = 0.6
"""A line is a running header/footer when it edges at least this share of the pages."""


def clean_pdf_pages(pages: list[str]) -> str:
    """Clean the text of a PDF's pages and join them with a blank line.

    Rules, in order:

    1. Ligatures U+FB00-U+FB06 (ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ) become their letters (NFKC on those code
       points only: NFKC on the whole text would also flatten superscripts, ``x²`` → ``x2``).
    2. Private-use code points (U+E000-U+F8FF, planes 15-16) are removed: they are glyphs of
       symbol fonts with no Unicode meaning.
    3. Running headers and footers are removed, when there are at least 3 pages: a line that
       is the first or last non-empty line of at least 60% of the pages (compared with digit
       runs masked, so ``Page 3 of 10`` and bare page numbers match from page to page). This
       is repeated up to 3 times, so a two-line header goes too.
    4. De-hyphenation across a line break: ``re-⏎mind`` → ``remind`` when the part before
       the hyphen is a lowercase word fragment and the next line starts with a lowercase
       letter; a soft hyphen (U+00AD) always joins. Limit: a real compound broken at its
       hyphen (``well-⏎known``) is joined too, unless the hyphenated form appears elsewhere
       in the same PDF and the joined form does not; then the hyphen is kept and only the
       line break removed. Capitalised or numeric fragments (``Self-⏎evident``,
       ``COVID-⏎19``) are left as they are.

    >>> clean_pdf_pages(["The ﬁrst re-\\nmind\\ue000er", "", "x² well-known"])
    'The first reminder\\n\\nx² well-known'
    """
    pages = [_PRIVATE_USE.sub("", _LIGATURES.sub(_nfkc, page)) for page in pages]
    pages = _drop_running_lines(pages)
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    return _dehyphenate(text)  # never joins across pages: they are a blank line apart


def _nfkc(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group())


def _line_key(line: str) -> str:
    """A line compared across pages: spaces collapsed, digit runs masked, case folded."""
    return _DIGIT_RUNS.sub("#", " ".join(line.split())).casefold()


def _drop_running_lines(pages: list[str]) -> list[str]:
    """Remove running headers/footers (rule 3 of :func:`clean_pdf_pages`)."""
    if len(pages) < 3:
        return pages
    need = max(2, math.ceil(RUNNING_LINE_SHARE * len(pages)))
    lines = [page.split("\n") for page in pages]
    for _ in range(3):
        edges: Counter[str] = Counter()
        for page in lines:
            body = [line for line in page if line.strip()]
            if body:
                edges.update({_line_key(body[0]), _line_key(body[-1])})
        running = {key for key, count in edges.items() if count >= need}
        if not running:
            break
        lines = [_strip_edges(page, running) for page in lines]
    return ["\n".join(page) for page in lines]


def _strip_edges(page: list[str], running: set[str]) -> list[str]:
    """Drop the first and the last non-empty line of a page when they are running lines."""
    body = [i for i, line in enumerate(page) if line.strip()]
    drop = {i for i in (body[:1] + body[-1:]) if _line_key(page[i]) in running}
    return [line for i, line in enumerate(page) if i not in drop]


def _dehyphenate(text: str) -> str:
    """Join words hyphenated across a line break (rule 4 of :func:`clean_pdf_pages`)."""
    if "\n" not in text:
        return text
    compounds = set(_COMPOUND.findall(text.replace("\u2010", "-")))
    words = set(re.findall(r"\w+", text))

    def join(match: re.Match[str]) -> str:
        head, mark, tail = match.groups()
        if mark == "\u00ad":
            return head + tail
        if not (head.isalpha() and head.islower() and tail[0].islower()):
            return match.group()
        if f"{head}-{tail}" in compounds and head + tail not in words:
            return f"{head}-{tail}"
        return head + tail

    return _HYPHEN_BREAK.sub(join, text)


# --- DOCX ---------------------------------------------------------------------------

_NOTE_SEPARATORS = ("separator", "continuationSeparator", "continuationNotice")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: encrypted Office files, legacy .doc


def read_docx(path: Path, data: bytes) -> Extracted:
    """DOCX → text with python-docx: body paragraphs and table rows in document order, then
    headers, footers, footnotes, endnotes and comments, each group under its own heading line.

    Headers and footers are read once per definition (not per page) and deduplicated by text;
    a first-page or even-page variant counts only where the document turns it on. Footnotes
    are ``[id] text``. ``metadata`` counts each group present (``{"footnotes": 2, ...}``).
    """
    import io

    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.exceptions import PackageNotFoundError

    if not data:
        raise FormatError("empty file (0 bytes), not a valid .docx")
    if data.startswith(_OLE_MAGIC):
        raise FormatError(
            "password-protected .docx or an old Word .doc renamed (an OLE file, not a zip); "
            "remove the password or re-save it from Word as .docx"
        )
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError) as exc:
        raise FormatError(
            "not a valid .docx (not a Word zip package); re-save it from Word as .docx"
        ) from exc
    except (KeyError, ValueError, OSError, SyntaxError, NotImplementedError, RuntimeError, zlib.error) as exc:
        # SyntaxError: lxml's XML errors; NotImplementedError/RuntimeError: zipfile's unsupported or encrypted members
        raise FormatError(
            f"unreadable .docx ({type(exc).__name__}: {_one_line(exc)}); re-save it from Word as .docx"
        ) from exc
    blocks = _docx_blocks(document)
    meta: dict[str, Any] = {}
    title = (document.core_properties.title or "").strip()
    if title:
        meta["title"] = title
    try:
        groups = {
            "headers": _docx_header_footer(document, "header"),
            "footers": _docx_header_footer(document, "footer"),
            "footnotes": _docx_notes(document, RT.FOOTNOTES, "footnote", numbered=True),
            "endnotes": _docx_notes(document, RT.ENDNOTES, "endnote", numbered=True),
            "comments": _docx_notes(document, RT.COMMENTS, "comment", numbered=False),
        }
    except (KeyError, ValueError, SyntaxError) as exc:
        raise FormatError(
            f"unreadable .docx part ({type(exc).__name__}: {_one_line(exc)}); re-save it from Word as .docx"
        ) from exc
    for label, texts in groups.items():
        if texts:
            blocks.append(f"{label.capitalize()}:\n" + "\n".join(texts))
            meta[label] = len(texts)
    return "\n\n".join(blocks), meta


def _docx_blocks(container: Any) -> list[str]:
    """Paragraph texts and table rows (`` | ``-joined cells) of a document, header or footer."""
    from docx.table import Table

    blocks: list[str] = []
    for item in container.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = [cell.text.strip() for cell in row.cells]
                blocks.append(" | ".join(_dedupe_merged(cells)))
        else:
            blocks.append(item.text)
    return blocks


def _docx_header_footer(document: Any, kind: str) -> list[str]:
    """Distinct texts of the ``header`` or ``footer`` definitions of all sections.

    A section that inherits ("linked to previous") adds nothing: its text is its
    predecessor's, already read (and reading it would create an empty definition).
    """
    even_pages = document.settings.odd_and_even_pages_header_footer
    texts: list[str] = []
    for section in document.sections:
        variants = [getattr(section, kind)]
        if section.different_first_page_header_footer:
            variants.append(getattr(section, f"first_page_{kind}"))
        if even_pages:
            variants.append(getattr(section, f"even_page_{kind}"))
        for variant in variants:
            if variant.is_linked_to_previous:
                continue
            text = "\n".join(b for b in _docx_blocks(variant) if b.strip()).strip()
            if text and text not in texts:
                texts.append(text)
    return texts


def _docx_notes(document: Any, reltype: str, tag: str, *, numbered: bool) -> list[str]:
    """Texts of the ``w:footnote``/``w:endnote``/``w:comment`` entries of a related part.

    Parsed from the part's XML (python-docx has no API for notes, and one for comments only
    from 1.2), with python-docx's parser (no external entities).
    """
    from docx.oxml.ns import qn
    from docx.oxml.parser import parse_xml

    texts: list[str] = []
    for rel in document.part.rels.values():
        if rel.reltype != reltype or rel.is_external:
            continue
        root = parse_xml(rel.target_part.blob)
        for note in root.iter(qn(f"w:{tag}")):
            if note.get(qn("w:type")) in _NOTE_SEPARATORS:
                continue
            paragraphs = ("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in note.iter(qn("w:p")))
            text = "\n".join(p.strip() for p in paragraphs if p.strip())
            if text:
                texts.append(f"[{note.get(qn('w:id'))}] {text}" if numbered else text)
    return texts


def _dedupe_merged(cells: list[str]) -> list[str]:
    """Merged table cells repeat their text in python-docx; keep one copy of each run."""
    out: list[str] = []
    for cell in cells:
        if not out or cell != out[-1]:
            out.append(cell)
    return out


def _one_line(exc: BaseException, limit: int = 100) -> str:
    """An exception's message on one line, cut to ``limit`` characters (reasons stay short)."""
    text = " ".join(str(exc).split())
    return (text[: limit - 1] + "…" if len(text) > limit else text) or type(exc).__name__


READERS: dict[str, Callable[[Path, bytes], Extracted]] = {
    ".txt": read_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".html": read_html,
    ".htm": read_html,
}
"""Extension → reader for whole-file formats (``.jsonl`` is streamed by the loader)."""
