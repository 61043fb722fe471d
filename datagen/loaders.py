"""Corpus loaders: a file or a directory tree of ``.txt .md .pdf .docx .html .jsonl`` → documents.

``load_corpus`` walks the corpus in a deterministic order (sorted relative paths), loads every
file whose extension it knows, and never stops at a bad file: each one becomes a
:class:`LoadFailure` with a one-line reason, and the good files are still loaded. Files of an
unknown extension are *skipped* (reported, not an error).

Choices worth knowing:
- ``doc_id`` is the path relative to the corpus root in posix form (``guides/intro.md``); a
  ``.jsonl`` line is ``<relpath>#<id field>`` or ``<relpath>#<line number>``.
- Text is NFC-normalised, NULs/control characters are removed, newlines unified and runs of
  blank lines collapsed (:func:`~teacherforge.datagen.loaders_formats.clean_extracted_text`).
- Non-UTF-8 text falls back to cp1252, then latin-1; the encoding used is in ``metadata``.
- Size cap, not streaming: a file larger than ``max_bytes`` (default 20 MB) fails with a
  reason instead of being loaded into memory — a single document that big is almost always
  a log or a dump, and silently truncating it would hide data. ``.jsonl`` files are streamed
  line by line, so the cap applies to each line there.
- Directory symlinks are followed once; a link back to a directory already being walked is
  reported as a symlink loop and not followed. Non-regular files (FIFOs, sockets) fail.

>>> glob_match("**/*.md", "notes/a.md"), glob_match("**/*.md", "a.md"), glob_match("*.md", "x/a.md")
(True, True, True)
>>> glob_match("docs/*.txt", "docs/sub/a.txt")
False
"""

from __future__ import annotations

import functools
import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .loaders_formats import READERS, FormatError, clean_extracted_text

if TYPE_CHECKING:
    from teacherforge.config.datagen import DatagenConfig

DEFAULT_MAX_BYTES = 20_000_000
SUPPORTED_EXTENSIONS = (*READERS, ".jsonl")


@dataclass(frozen=True)
class Document:
    """One loaded document.

    ``doc_id`` is the path relative to the corpus root (posix, extension kept; ``#<id>`` or
    ``#<line>`` appended for a ``.jsonl`` line); ``source`` is the file path; ``metadata``
    holds the config's ``category``/``topic``, the format and format details (encoding,
    pages, title, jsonl fields).
    """

    doc_id: str
    source: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadFailure:
    """A file (or ``file:line`` of a ``.jsonl``) that was not loaded, with a one-line reason."""

    path: str
    reason: str


@dataclass(frozen=True)
class LoadResult:
    """Documents loaded from a corpus, the failures, the skipped files (unknown types, question
    sets) and how many files ``include``/``exclude`` left out (``excluded``).

    ``partial`` is true when at least one failure happened (the CLI exits with a distinct
    status then); skipped files do not make a load partial.
    """

    documents: list[Document]
    failures: list[LoadFailure]
    skipped: list[LoadFailure] = field(default_factory=list)
    excluded: int = 0

    @property
    def partial(self) -> bool:
        """True when at least one file or line failed to load."""
        return bool(self.failures)

    def counts(self) -> dict[str, int]:
        """Documents per format plus ``failures`` and ``skipped`` totals (manifest counts)."""
        by_format = Counter(str(d.metadata.get("format", "?")) for d in self.documents)
        return {
            "documents": len(self.documents),
            **{f"format.{k}": v for k, v in sorted(by_format.items())},
            "failures": len(self.failures),
            "skipped": len(self.skipped),
            "excluded": self.excluded,
        }


class _Walk:
    """Accumulates the results of one corpus walk."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.documents: list[Document] = []
        self.failures: list[LoadFailure] = []
        self.skipped: list[LoadFailure] = []
        self.excluded = 0  # files left out by include/exclude

    def fail(self, path: str | Path, reason: str) -> None:
        self.failures.append(LoadFailure(str(path), reason))


def load_corpus(
    path: str | os.PathLike[str],
    include: Sequence[str] = ("**/*",),
    exclude: Sequence[str] = (),
    jsonl_text_field: str = "text",
    metadata: Mapping[str, Any] | None = None,
    *,
    jsonl_metadata_fields: Sequence[str] | None = None,
    jsonl_id_field: str = "id",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LoadResult:
    """Load a single file or every matching file under a directory.

    ``include``/``exclude`` are globs on the posix path relative to ``path`` (``**`` spans
    directories; a pattern without ``/`` matches the file name at any depth); excluded
    directories are not entered. ``metadata`` (e.g. ``{"category": ..., "topic": ...}``,
    ``None`` values dropped) is attached to every document. For ``.jsonl``, each line is one
    document: its text is ``jsonl_text_field``; ``jsonl_metadata_fields`` selects the other
    fields kept as metadata (``None`` = all of them); a broken line is reported as
    ``file:line`` and the rest of the file still loads. Raises ``FileNotFoundError`` only
    when ``path`` itself does not exist.
    """
    root = Path(path)
    if not root.exists() and not root.is_symlink():
        raise FileNotFoundError(f"corpus {root} does not exist; set datagen.corpus to a file or directory")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
    base_meta = {k: v for k, v in (metadata or {}).items() if v is not None}
    loader = functools.partial(
        _load_file,
        base_meta=base_meta,
        text_field=jsonl_text_field,
        meta_fields=jsonl_metadata_fields,
        id_field=jsonl_id_field,
    )
    if root.is_dir():
        walk = _Walk(root, max_bytes)
        files = sorted(_walk_files(walk, include, exclude), key=lambda p: p[0])
    else:
        walk = _Walk(root.parent, max_bytes)
        files = [(root.name, root)]
    for rel, file_path in _progress(files):
        loader(walk, rel, file_path)
    return LoadResult(walk.documents, walk.failures, walk.skipped, walk.excluded)


def load_corpus_from_config(cfg: DatagenConfig) -> LoadResult:
    """``load_corpus`` with the corpus fields of a :class:`DatagenConfig`."""
    if not cfg.corpus:
        raise ValueError("datagen.corpus is empty; set it to a file or directory of documents")
    return load_corpus(
        cfg.corpus,
        include=tuple(cfg.include),
        exclude=tuple(cfg.exclude),
        jsonl_text_field=cfg.jsonl_text_field,
        metadata={"category": cfg.category, "topic": cfg.topic},
        jsonl_metadata_fields=None if cfg.jsonl_metadata_fields is None else tuple(cfg.jsonl_metadata_fields),
        jsonl_id_field=cfg.jsonl_id_field,
        max_bytes=cfg.max_bytes,
    )


def _progress(files: list[tuple[str, Path]]) -> Any:
    """A tqdm bar over the files when there are many, else the plain list."""
    if len(files) < 50:
        return files
    from tqdm.auto import tqdm

    return tqdm(files, desc="load", unit="file")


# --- directory walk -----------------------------------------------------------------


def _walk_files(walk: _Walk, include: Sequence[str], exclude: Sequence[str]) -> Iterator[tuple[str, Path]]:
    """Yield ``(relpath, path)`` of files under the root that pass the globs (iterative, any depth).

    Each pending directory carries the identities (device, inode) of its ancestors, so a symlink back to one
    of them is a loop (reported, not followed); a directory reached twice by other links is
    skipped the second time (real directories are walked before symlinked ones, so the real
    path names the documents).
    """
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Path, str, dict[tuple[int, int], str]]] = [(walk.root, "", {})]
    links: list[tuple[Path, str, dict[tuple[int, int], str]]] = []  # symlinked dirs: walked last
    while stack or links:
        directory, rel_dir, ancestors = stack.pop() if stack else links.pop()
        try:
            info = directory.stat()
        except OSError as exc:
            walk.fail(directory, f"cannot open directory ({_os_reason(exc)})")
            continue
        real = (info.st_dev, info.st_ino)  # identity of the directory, whatever links led here
        if real in ancestors:
            walk.fail(directory, f"symlink loop: points back to {ancestors[real] or '.'}/ (not followed)")
            continue
        if real in seen:
            walk.skipped.append(LoadFailure(str(directory), "directory already loaded through another path"))
            continue
        seen.add(real)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            walk.fail(directory, f"cannot list directory ({_os_reason(exc)})")
            continue
        inner = {**ancestors, real: rel_dir}
        for entry in reversed(entries):  # pushed in reverse, so popped in name order
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError as exc:  # ELOOP on a self-referential link, EACCES, ...
                walk.fail(entry.path, _os_reason(exc))
                continue
            if is_dir:
                if not _matches_any(exclude, rel, directory=True):
                    (links if entry.is_symlink() else stack).append((Path(entry.path), rel, inner))
            elif _matches_any(include, rel) and not _matches_any(exclude, rel):
                yield rel, Path(entry.path)
            else:
                walk.excluded += 1


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob (``**``, ``*``, ``?``, ``[...]``) into a regex over posix paths."""
    if "/" not in pattern.strip("/"):
        pattern = "**/" + pattern.strip("/")
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, relpath: str) -> bool:
    """Whether a posix relative path matches a glob (``**`` spans directories)."""
    return _glob_regex(pattern).match(relpath) is not None


def _matches_any(patterns: Sequence[str], rel: str, directory: bool = False) -> bool:
    if directory:  # a directory is excluded when the pattern covers it or everything inside it
        return any(glob_match(p, rel) or glob_match(p, rel + "/") for p in patterns)
    return any(glob_match(p, rel) for p in patterns)


# --- one file -----------------------------------------------------------------------


def _load_file(
    walk: _Walk,
    rel: str,
    path: Path,
    *,
    base_meta: Mapping[str, Any],
    text_field: str,
    meta_fields: Sequence[str] | None,
    id_field: str,
) -> None:
    """Load one file into ``walk`` (documents, or a failure/skip record)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        walk.skipped.append(
            LoadFailure(
                str(path),
                f"unknown extension {suffix or '(none)'!r}; supported: {' '.join(SUPPORTED_EXTENSIONS)}",
            )
        )
        return
    try:
        info = path.stat()
    except OSError as exc:
        walk.fail(path, _os_reason(exc))
        return
    if stat.S_ISDIR(info.st_mode):
        walk.fail(path, "is a directory, not a file")
        return
    if not stat.S_ISREG(info.st_mode):
        walk.fail(path, "not a regular file (FIFO, socket or device); not read")
        return
    if info.st_size == 0:
        walk.fail(path, "empty file (0 bytes)")
        return
    fmt = suffix.lstrip(".")
    if suffix == ".jsonl":
        _load_jsonl(walk, rel, path, base_meta, text_field, meta_fields, id_field)
        return
    if info.st_size > walk.max_bytes:
        walk.fail(
            path,
            f"file is {_mb(info.st_size)}, over max_bytes={_mb(walk.max_bytes)}; "
            "split it or raise datagen.max_bytes",
        )
        return
    try:
        data = read_bytes(path)
        text, extra = READERS[suffix](path, data)
    except OSError as exc:
        walk.fail(path, _os_reason(exc))
        return
    except FormatError as exc:
        walk.fail(path, str(exc))
        return
    except RecursionError:
        walk.fail(path, f"{fmt} structure too deeply nested to parse")
        return
    text = clean_extracted_text(text)
    if not text:
        walk.fail(path, "no text after extraction (only whitespace or markup)")
        return
    meta = {**base_meta, "format": fmt, **extra}
    walk.documents.append(Document(doc_id=rel, source=str(path), text=text, metadata=meta))


def read_bytes(path: Path) -> bytes:
    """Read a whole file (the one place the loaders touch file contents, for tests to patch)."""
    with open(path, "rb") as fh:
        return fh.read()


def _load_jsonl(
    walk: _Walk,
    rel: str,
    path: Path,
    base_meta: Mapping[str, Any],
    text_field: str,
    meta_fields: Sequence[str] | None,
    id_field: str,
) -> None:
    """Stream a ``.jsonl`` file: one document per line, broken lines reported as ``file:line``."""
    try:
        with open(path, "rb") as fh:
            _read_jsonl_lines(walk, rel, path, fh, base_meta, text_field, meta_fields, id_field)
    except OSError as exc:
        walk.fail(path, _os_reason(exc))


def _read_jsonl_lines(
    walk: _Walk,
    rel: str,
    path: Path,
    fh: BinaryIO,
    base_meta: Mapping[str, Any],
    text_field: str,
    meta_fields: Sequence[str] | None,
    id_field: str,
) -> None:
    """The per-line loop of :func:`_load_jsonl`.

    When no line of the file has the text field (a question file, not a corpus file), the
    file gets one failure instead of one per line.
    """
    ids: set[str] = set()
    loaded_before = len(walk.documents)
    missing: list[tuple[str, list[str]]] = []  # (where, keys) of lines without the text field
    for lineno, raw in enumerate(_bounded_lines(fh, walk.max_bytes), 1):
        where = f"{path}:{lineno}"
        if raw is None:
            walk.fail(where, f"line is over {_mb(walk.max_bytes)} (max_bytes); line skipped")
            continue
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            walk.fail(where, "line is not UTF-8; re-encode the file as UTF-8")
            continue
        except json.JSONDecodeError as exc:
            walk.fail(where, f"invalid JSON ({exc.msg} at column {exc.colno}); line skipped")
            continue
        if not isinstance(record, dict):
            walk.fail(where, f"line is a JSON {type(record).__name__}, expected an object")
            continue
        text = record.get(text_field)
        if not isinstance(text, str):
            missing.append((where, sorted(record)))
            continue
        text = clean_extracted_text(text)
        if not text:
            walk.fail(where, f"field {text_field!r} is empty")
            continue
        key = str(record[id_field]) if record.get(id_field) not in (None, "") else str(lineno)
        if key in ids:
            walk.fail(where, f"duplicate {id_field!r} {key!r} in this file; line skipped")
            continue
        ids.add(key)
        fields = (
            (k for k in record if k not in (text_field, id_field)) if meta_fields is None else meta_fields
        )
        line_meta = {k: record[k] for k in fields if k in record and record[k] is not None}
        meta = {**base_meta, **line_meta, "format": "jsonl", "line": lineno}
        walk.documents.append(Document(doc_id=f"{rel}#{key}", source=str(path), text=text, metadata=meta))
    if (
        missing
        and len(walk.documents) == loaded_before
        and all({"question", "answer"} <= set(keys) for _, keys in missing)
    ):
        walk.skipped.append(
            LoadFailure(
                str(path),
                "a question set (question/answer lines), not documents; import it with `teacherforge import`",
            )
        )
        return
    if missing and len(walk.documents) == loaded_before:
        walk.fail(
            path,
            f"no line has a string field {text_field!r} ({len(missing)} line(s); keys of the first: "
            f"{missing[0][1][:8]}); set datagen.jsonl_text_field or exclude this file",
        )
        return
    for where, keys in missing:
        walk.fail(where, f"no string field {text_field!r} (keys: {keys[:8]}); set datagen.jsonl_text_field")


def _bounded_lines(fh: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """Lines of a binary file, ``None`` for a line longer than ``limit`` (never held in memory)."""
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # discard the rest of the long line
                line = fh.readline(1 << 20)
            yield None
        else:
            yield line


def _os_reason(exc: OSError) -> str:
    """A one-line reason for an OS error (permission, symlink loop, broken link, ...)."""
    import errno

    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "symlink loop (too many levels of symbolic links)",
        errno.ENOENT: "broken symlink or file vanished",
        errno.EISDIR: "is a directory, not a file",
    }
    return reasons.get(exc.errno, exc.strerror or type(exc).__name__)


def _mb(n: int) -> str:
    """A byte count for humans: ``20.0 MB`` or ``5,000 bytes``."""
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n:,} bytes"


def format_load_summary(result: LoadResult, max_listed: int = 20) -> str:
    """A few lines for the CLI: counts by format, then each failure and skip as ``path: reason``."""
    counts = Counter(str(d.metadata.get("format", "?")) for d in result.documents)
    by_format = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
    status = "PARTIAL: " if result.partial else ""
    lines = [
        f"{status}loaded {len(result.documents)} document(s) ({by_format}); "
        f"{len(result.failures)} failure(s), {len(result.skipped)} skipped"
    ]
    for label, items in (("failed", result.failures), ("skipped", result.skipped)):
        for item in items[:max_listed]:
            lines.append(f"  {label}: {item.path}: {item.reason}")
        if len(items) > max_listed:
            lines.append(f"  ... and {len(items) - max_listed} more {label}")
    return "\n".join(lines)
