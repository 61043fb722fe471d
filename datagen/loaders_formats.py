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
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def read_pdf(path: Path, data: bytes) -> Extracted:
    """PDF → text with pypdf, pages separated by a blank line.

    An encrypted PDF is opened with the empty password when it allows that; otherwise it
    fails with a reason. A PDF with no extractable text (scanned images) fails too.
    """
    import io

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise FormatError("not a PDF (no %PDF header)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            encrypted = reader.is_encrypted
            if encrypted:
                try:
                    ok = reader.decrypt("")
                except DependencyError as exc:
                    raise FormatError(
                        f"encrypted PDF needs an extra package to decrypt ({_one_line(exc)})"
                    ) from exc
                if not ok:
                    raise FormatError(
                        "encrypted PDF: a password is required; decrypt it first (e.g. qpdf --decrypt)"
                    )
            pages = []
            for page in reader.pages:
                pages.append(page.extract_text() or "")
    except FormatError:
        raise
    except FileNotDecryptedError as exc:
        raise FormatError(
            "encrypted PDF: a password is required; decrypt it first (e.g. qpdf --decrypt)"
        ) from exc
    except (
        PdfReadError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        AssertionError,
        RecursionError,
        zlib_error(),
    ) as exc:
        raise FormatError(
            f"unreadable PDF ({type(exc).__name__}: {_one_line(exc)}); the file may be truncated or corrupt"
        ) from exc
    text = "\n\n".join(p.strip() for p in pages)
    if not text.strip():
        raise FormatError(
            f"PDF has no extractable text ({len(pages)} page(s); scanned images need OCR first, "
            "or the file is truncated)"
        )
    meta: dict[str, Any] = {"pages": len(pages)}
    if encrypted:
        meta["encrypted"] = True
    return text, meta


def zlib_error() -> type[Exception]:
    """The zlib error class (corrupt compressed PDF streams raise it)."""
    import zlib

    return zlib.error


# --- DOCX ---------------------------------------------------------------------------


def read_docx(path: Path, data: bytes) -> Extracted:
    """DOCX → text with python-docx: paragraphs and table rows in document order."""
    import io

    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    if not data:
        raise FormatError("empty file (0 bytes), not a valid .docx")
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError) as exc:
        raise FormatError(
            "not a valid .docx (not a Word zip package); re-save it from Word as .docx"
        ) from exc
    except (KeyError, ValueError, OSError) as exc:
        raise FormatError(f"unreadable .docx ({type(exc).__name__}: {_one_line(exc)})") from exc
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = [cell.text.strip() for cell in row.cells]
                blocks.append(" | ".join(_dedupe_merged(cells)))
        else:
            blocks.append(item.text)
    meta: dict[str, Any] = {}
    title = (document.core_properties.title or "").strip()
    if title:
        meta["title"] = title
    return "\n\n".join(blocks), meta


def _dedupe_merged(cells: list[str]) -> list[str]:
    """Merged table cells repeat their text in python-docx; keep one copy of each run."""
    out: list[str] = []
    for cell in cells:
        if not out or cell != out[-1]:
            out.append(cell)
    return out


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


READERS: dict[str, Callable[[Path, bytes], Extracted]] = {
    ".txt": read_text,
    ".md": read_text,
    ".markdown": read_text,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".html": read_html,
    ".htm": read_html,
}
"""Extension → reader for whole-file formats (``.jsonl`` is streamed by the loader)."""
