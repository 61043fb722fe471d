"""Markdown → the text a reader sees: CommonMark + GFM tables + MyST/Sphinx, parsed with markdown-it-py.

Rules, by construct:

- YAML front matter (a leading ``---`` … ``---`` block) goes to ``metadata`` (``title``,
  ``tags``), never to the text; invalid YAML is dropped and ``front_matter_error`` says why.
- Headings stay on their own line as ``# Title`` (``#`` per level, setext headings too): the
  chunker cuts before a ``# `` line and the cloze generator skips lines holding ``#``.
- Inline markup becomes its text: link text kept and URL dropped (autolinks keep the URL),
  images and badges become their alt text (nothing when it is empty). MyST/RST roles
  (``{ref}`target```, ``:func:`name```) become their target text.
- Lists: one item a line, ``- `` or the item's own number (``3. ``); nested items indented.
- Tables, GFM and HTML: one row a line, cells joined by `` | `` (trailing empty cells dropped).
- HTML blocks and inline HTML: converted with the HTML reader (scripts, styles, head dropped).
  A page with a ``<meta http-equiv="refresh">`` and under ``REDIRECT_MAX_WORDS`` words of
  text is a redirect stub and yields no text (the loader then reports it as empty).
- Code (fenced or indented) keeps its fence lines, between blank lines. Chunking cuts at
  paragraph breaks in the second half of its window, so a block of at most half a chunk
  with no blank line inside is never cut; a block longer than ``CODE_PIECE_CHARS`` (half the
  default chunk) is split at line boundaries, at a blank line where one is near, into pieces
  each closed with its own fence, the later ones marked ``(continued)``. Limit: a block with
  a blank line or a column-0 ``# `` line inside can still be cut there by the chunker.
- MyST directives (```` ```{note} ````, ``:::{note}``): the body is parsed as Markdown and an
  admonition keeps its title (``Note:``); ``{code-block}`` is code; ``{toctree}``,
  ``{include}``, ``{image}`` give nothing. RST ``.. auto*::`` directives and their option
  lines are dropped and counted (``api_reference_directives``); other ``.. name::`` lines are
  dropped and their indented body kept (``.. code-block::`` bodies become fenced code).

>>> text, meta = read_markdown(Path("a.md"), b"---\\ntitle: Guide\\n---\\n# Setup\\n\\nRun *this* [now](https://x.org).\\n")
>>> text, meta["title"]
('# Setup\\n\\nRun this now.', 'Guide')
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teacherforge.config import ChunkingConfig

if TYPE_CHECKING:  # loaders_formats imports this module: its names are imported where used
    from .loaders_formats import Extracted

CODE_PIECE_CHARS = ChunkingConfig().size // 2
"""Code blocks longer than this are split into closed fenced pieces of at most this size."""
REDIRECT_MAX_WORDS = 30
"""A page with a meta refresh and fewer words than this is a redirect stub: no text."""
_MAX_DEPTH = 8  # directive bodies nested deeper than this are kept as plain text

_ADMONITIONS = {
    "note": "Note",
    "warning": "Warning",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "caution": "Caution",
    "danger": "Danger",
    "attention": "Attention",
    "error": "Error",
    "seealso": "See also",
    "todo": "Todo",
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
}
_VERSIONED = ("versionadded", "versionchanged", "deprecated")  # the argument is a version
_TITLED = {"admonition", "topic", "sidebar", "rubric"}  # the argument is the title
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode", "code-cell", "ipython"}
_SILENT_DIRECTIVES = {"toctree", "include", "literalinclude", "image", "contents", "tableofcontents"}

_RST_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\.[ \t]+(?P<name>[\w:+.-]+)::(?:[ \t]+(?P<args>.*))?$")
_RST_TARGET = re.compile(r"^[ \t]*\.\.[ \t]+_[^:]*:.*$")  # `.. _label:` link targets
_RST_OPTION = re.compile(r"^[ \t]*:[\w .-]+:(?:[ \t].*)?$")
_MYST_TARGET = re.compile(r"^\([\w.:-]+\)=$")  # `(label)=` before a heading
_ROLE_END = re.compile(r"(?:^|(?<=[\s(\[\"']))(?:\{[\w:.+-]+\}|:[\w.+-]+(?::[\w.+-]+)*:)$")
_SPACES = re.compile(r"[ \t]+")
_SCRIPT_OPEN = re.compile(r"<(script|style)\b[^>]*>", re.IGNORECASE)
_MD_MARKERS = ("#", "-", "`", "|")


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    """CommonMark with GFM tables, front matter and MyST ``:::`` fences."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.colon_fence import colon_fence_plugin
    from mdit_py_plugins.front_matter import front_matter_plugin

    return MarkdownIt("commonmark").enable("table").use(front_matter_plugin).use(colon_fence_plugin)


def read_markdown(path: Path, data: bytes) -> Extracted:
    """Markdown (``.md``/``.markdown``) → text as a reader sees it, per the module's rules.

    ``metadata`` holds ``encoding``, front-matter ``title``/``tags`` (or ``front_matter_error``),
    ``code_blocks`` and ``api_reference_directives`` when non-zero, and ``markdown``: counts
    of ``headings``, ``code_blocks``, ``tables`` (GFM and HTML) and ``html_blocks``.
    Raises :class:`~teacherforge.datagen.loaders_formats.FormatError` only for binary content.
    """
    from .loaders_formats import decode_text

    text, encoding = decode_text(data)
    renderer = _Renderer(path)
    body = "\n\n".join(renderer.render(text, 0))
    meta: dict[str, Any] = {"encoding": encoding, **renderer.front_matter}
    if renderer.redirect and len(body.split()) < REDIRECT_MAX_WORDS:
        body, meta["redirect_stub"] = "", True
    counts = renderer.counts
    if counts["code_blocks"]:
        meta["code_blocks"] = counts["code_blocks"]
    if renderer.api_directives:
        meta["api_reference_directives"] = renderer.api_directives
    meta["markdown"] = dict(counts)
    return body, meta


class _Renderer:
    """Turns one Markdown document into text blocks, counting what it met on the way."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts = {"headings": 0, "code_blocks": 0, "tables": 0, "html_blocks": 0}
        self.api_directives = 0
        self.redirect = False
        self.front_matter: dict[str, Any] = {}
        self._skip_tag: str | None = None  # inside an inline <script>/<style>

    def render(self, src: str, depth: int) -> list[str]:
        """The text blocks of ``src`` (RST directives rewritten first, then parsed)."""
        from markdown_it.tree import SyntaxTreeNode

        tree = SyntaxTreeNode(_parser().parse(self._rewrite_rst(src, depth)))
        return self._blocks(tree.children, depth)

    # --- source pass: front matter and RST directives (markdown-it knows neither) --------

    def _rewrite_rst(self, src: str, depth: int) -> str:
        """Drop the front matter (kept in metadata) and rewrite RST directives outside code/HTML."""
        lines = src.split("\n")
        protected = [False] * len(lines)
        start = 0
        for token in _parser().parse(src):
            if token.type == "front_matter" and token.map:
                if depth == 0:
                    self._read_front_matter(token.content)
                start = token.map[1]
            elif token.map and token.type in ("fence", "colon_fence", "html_block", "code_block"):
                protected[token.map[0] : token.map[1]] = [True] * (token.map[1] - token.map[0])
        return "\n".join(self._rst_lines(lines[start:], protected[start:], depth))

    def _rst_lines(self, lines: list[str], protected: list[bool], depth: int) -> list[str]:
        """Lines with RST directives rewritten (see the module rules)."""
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            match = None if protected[i] else _RST_DIRECTIVE.match(line)
            if match is None:
                if protected[i] or not _RST_TARGET.match(line):
                    out.append(line)
                i += 1
                continue
            indent = len(match["indent"].expandtabs())
            end = i + 1
            while end < len(lines) and _indent(lines[end]) > indent and _RST_OPTION.match(lines[end]):
                end += 1  # option lines (:members:, :noindex:)
            body_start = end
            while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
                end += 1
            while end > body_start and not lines[end - 1].strip():
                end -= 1  # trailing blank lines belong to the text after
            while body_start < end and not lines[body_start].strip():
                body_start += 1
            body = _dedent(lines[body_start:end])
            out.extend(self._rst_directive(match["name"], (match["args"] or "").strip(), body, depth))
            i = end
        return out

    def _gives_no_text(self, name: str) -> bool:
        """Whether directive ``name`` is dropped: autodoc lists (counted as API reference) and
        directives with nothing to read (toctree, include, image, ...)."""
        if name.startswith("auto"):
            self.api_directives += 1
            return True
        return name in _SILENT_DIRECTIVES

    def _rst_directive(self, name: str, args: str, body: list[str], depth: int) -> list[str]:
        """The Markdown lines an RST directive becomes."""
        name = name.split(":")[-1].lower()
        if self._gives_no_text(name):
            return []
        if name in _CODE_DIRECTIVES:
            return ["", "```" + (args.split()[0] if args else ""), *body, "```", ""]
        if depth < _MAX_DEPTH:
            body = self._rst_lines(body, [False] * len(body), depth + 1)
        title = _title(name, args)
        if name in _ADMONITIONS and args and not name.startswith(_VERSIONED):
            body = [args, *body]  # `.. note:: text`: the body may start on the directive line
        if title:
            body = [f"{title}:", *body]
        return ["", *body, ""]

    def _read_front_matter(self, yaml_text: str) -> None:
        """``title`` and ``tags`` of the front matter, or ``front_matter_error``."""
        import yaml

        try:
            fields = yaml.safe_load(yaml_text) if yaml_text.strip() else {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 2}" if mark is not None else ""  # +2: 1-based, after `---`
            problem = getattr(exc, "problem", None) or type(exc).__name__
            self.front_matter["front_matter_error"] = (
                f"invalid YAML front matter{where} ({problem}); front matter ignored: fix or remove it"
            )
            return
        if not isinstance(fields, dict):
            self.front_matter["front_matter_error"] = (
                f"front matter is a YAML {type(fields).__name__}, not a mapping of fields; ignored"
            )
            return
        if fields.get("title") not in (None, ""):
            self.front_matter["title"] = str(fields["title"]).strip()
        tags = fields.get("tags")
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",")]
        if isinstance(tags, list) and tags:
            self.front_matter["tags"] = [str(t) for t in tags if str(t).strip()]

    # --- block level -----------------------------------------------------------------

    def _blocks(self, nodes: list[Any], depth: int) -> list[str]:
        """Text blocks of sibling block nodes; runs of HTML blocks are converted together."""
        out: list[str] = []
        html: list[str] = []
        for node in nodes:
            if node.type == "html_block":
                self.counts["html_blocks"] += 1
                html.append(node.content)
                continue
            if html:
                out.extend(self._html("".join(html)))
                html = []
            out.extend(self._block(node, depth))
        if html:
            out.extend(self._html("".join(html)))
        return [block for block in out if block.strip()]

    def _block(self, node: Any, depth: int) -> list[str]:
        kind = node.type
        if kind == "heading":
            self.counts["headings"] += 1
            text = self._inline(node.children[0]) if node.children else ""
            return ["#" * int(node.tag[1:]) + " " + text] if text else []
        if kind == "paragraph":
            text = self._inline(node.children[0]) if node.children else ""
            return [] if _MYST_TARGET.match(text) else [text]
        if kind in ("bullet_list", "ordered_list"):
            return ["\n".join(self._list(node, depth))]
        if kind == "fence":
            info = node.info.strip()
            if info.startswith("{"):
                return self._directive(info, node.content, depth)
            return self._code(info.split()[0] if info else "", node.content)
        if kind == "colon_fence":
            return self._directive(node.info.strip(), node.content, depth)
        if kind == "code_block":
            return self._code("", node.content)
        if kind == "table":
            self.counts["tables"] += 1
            rows = [
                _row([self._inline(c.children[0]) if c.children else "" for c in tr.children])
                for part in node.children
                for tr in part.children
            ]
            return ["\n".join(row for row in rows if row)]
        if kind in ("hr", "front_matter"):
            return []
        return self._blocks(node.children, depth)  # blockquote, anything else with children

    def _list(self, node: Any, depth: int) -> list[str]:
        """One line per item (``- `` or the item's number), continuation lines indented."""
        lines: list[str] = []
        for item in node.children:
            marker = f"{item.info}{item.markup} " if node.type == "ordered_list" else "- "
            body = "\n".join(self._blocks(item.children, depth)).split("\n")
            if not body[0].strip() and len(body) == 1:
                continue
            lines.append(marker + body[0])
            lines.extend(" " * len(marker) + line if line.strip() else "" for line in body[1:])
        return lines

    def _directive(self, info: str, content: str, depth: int) -> list[str]:
        """A MyST directive (```` ```{name} args ```` or ``:::{name}``) → its body's text."""
        match = re.match(r"\{([\w:.+-]+)\}\s*(.*)", info)
        if match is None:  # `:::` without a name: a plain container
            return self.render(content, depth + 1) if depth < _MAX_DEPTH else [content]
        name, args = match[1].split(":")[-1].lower(), match[2].strip()
        body = _strip_options(content)
        if self._gives_no_text(name):
            return []
        if name in _CODE_DIRECTIVES:
            return self._code(args.split()[0] if args else "", body)
        blocks = self.render(body, depth + 1) if depth < _MAX_DEPTH else [body]
        title = _title(name, args)
        if title:
            if blocks and not blocks[0].startswith(_MD_MARKERS) and not blocks[0][:1].isdigit():
                blocks[0] = f"{title}: {blocks[0]}"
            else:
                blocks.insert(0, f"{title}:")
        return blocks

    def _code(self, lang: str, content: str) -> list[str]:
        """A code block: fenced, split into closed pieces when over ``CODE_PIECE_CHARS``."""
        self.counts["code_blocks"] += 1
        content = content.rstrip("\n")
        if not content.strip():
            return []
        fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", content)), default=0))
        if len(content) + 2 * len(fence) + len(lang) + 2 <= CODE_PIECE_CHARS:
            return [f"{fence}{lang}\n{content}\n{fence}"]
        budget = CODE_PIECE_CHARS - 2 * len(fence) - len(lang) - len(" (continued)") - 2
        pieces = []
        for n, piece in enumerate(_split_lines(content.split("\n"), budget)):
            info = f"{lang} (continued)".strip() if n else lang
            pieces.append(f"{fence}{info}\n{piece}\n{fence}")
        return pieces

    def _html(self, html: str) -> list[str]:
        """HTML → text with the HTML reader; tables first become `` | `` rows."""
        from bs4 import BeautifulSoup

        from .loaders_formats import _DROP_TAGS, read_html

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            soup = BeautifulSoup(html, "html.parser")
        if soup.find("meta", attrs={"http-equiv": re.compile(r"^\s*refresh\s*$", re.IGNORECASE)}):
            self.redirect = True
        for tag in soup.find_all([*_DROP_TAGS, "title", "meta", "link", "base"]):
            tag.decompose()
        for table in reversed(soup.find_all("table")):  # innermost first
            self.counts["tables"] += 1
            lines = [table.caption.get_text(" ", strip=True)] if table.caption else []
            for tr in table.find_all("tr"):
                lines.append(
                    _row([c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"], recursive=False)])
                )
            rows = soup.new_tag("div")
            for line in filter(None, lines):
                paragraph = soup.new_tag("p")
                paragraph.string = line
                rows.append(paragraph)
            table.replace_with(rows)
        text, _ = read_html(self.path, str(soup).encode("utf-8"))
        return [text.strip()] if text.strip() else []

    # --- inline level ----------------------------------------------------------------

    def _inline(self, node: Any) -> str:
        """The text of an inline node: markup dropped, spaces collapsed, hard breaks kept."""
        parts: list[str] = []
        self._skip_tag = None
        self._inline_into(node.children, parts)
        lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
        return "\n".join(line for line in lines if line)

    def _inline_into(self, nodes: list[Any], parts: list[str]) -> None:
        for node in nodes:
            kind = node.type
            if self._skip_tag is not None:
                if kind == "html_inline" and re.match(rf"</{self._skip_tag}\b", node.content, re.IGNORECASE):
                    self._skip_tag = None
                continue
            if kind == "text":
                parts.append(node.content)
            elif kind == "softbreak":
                parts.append(" ")
            elif kind == "hardbreak":
                parts.append("\n")
            elif kind == "code_inline":
                role = _ROLE_END.search(parts[-1]) if parts else None
                if role:
                    parts[-1] = parts[-1][: role.start()]
                parts.append(_role_text(node.content) if role else node.content)
            elif kind == "html_inline":
                opened = _SCRIPT_OPEN.match(node.content)
                if opened and not node.content.rstrip().endswith("/>"):
                    self._skip_tag = opened[1].lower()
                elif re.match(r"<br\b", node.content, re.IGNORECASE):
                    parts.append(" ")
            else:  # em, strong, s, link (text kept, URL dropped), image (alt text kept)
                self._inline_into(node.children, parts)


def _indent(line: str) -> int:
    """Width of a line's leading whitespace (tabs expanded); blank lines count as infinitely deep."""
    return len(line.expandtabs()) - len(line.expandtabs().lstrip()) if line.strip() else 1 << 30


def _dedent(lines: list[str]) -> list[str]:
    """Lines with their common leading whitespace removed (blank lines ignored)."""
    width = min((_indent(line) for line in lines if line.strip()), default=0)
    return [line.expandtabs()[width:] if line.strip() else "" for line in lines]


def _strip_options(content: str) -> str:
    """A MyST directive body without its options (``:key: value`` lines or a ``---`` YAML block)."""
    lines = content.split("\n")
    if lines and lines[0].strip() == "---":
        close = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if close is not None:
            return "\n".join(lines[close + 1 :])
    start = 0
    while start < len(lines) and _RST_OPTION.match(lines[start]) and not lines[start].startswith(" "):
        start += 1
    return "\n".join(lines[start:])


def _title(name: str, args: str) -> str:
    """The title word(s) a directive keeps: ``Note``, ``New in version 2.1``, a custom title."""
    if name in _TITLED:
        return args
    title = _ADMONITIONS.get(name, "")
    if title and name.startswith(_VERSIONED) and args:
        return f"{title} {args.split()[0]}"
    return title


def _role_text(target: str) -> str:
    """The text a role shows: ``Title <target>`` → ``Title``; ``~pkg.mod.name`` → ``name``."""
    target = target.strip().lstrip("!")
    titled = re.match(r"^(.+?)\s*<[^<>]+>$", target)
    if titled:
        return titled[1]
    if target.startswith("~"):
        return target[1:].rsplit(".", 1)[-1]
    return target


def _row(cells: list[str]) -> str:
    """One table row: cells joined by `` | ``, trailing empty cells dropped ('' for an empty row)."""
    while cells and not cells[-1].strip():
        cells.pop()
    return " ".join(" | ".join(cells).split())  # an empty cell inside: `a | | c`


def _split_lines(lines: list[str], budget: int) -> list[str]:
    """Split code lines into pieces of at most ``budget`` characters, at line boundaries.

    A piece ends at its last blank line when that is in its second half, else at the last
    line that fits; a single line longer than the budget is a piece of its own.
    """
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + len(line) + 1 > budget:
            blanks = [i for i, text in enumerate(current) if not text.strip() and i > 0]
            cut = (
                blanks[-1]
                if blanks and sum(len(t) + 1 for t in current[: blanks[-1]]) > budget // 2
                else len(current)
            )
            pieces.append("\n".join(current[:cut]).strip("\n"))
            current = current[cut:]
            while current and not current[0].strip():
                current.pop(0)
            size = sum(len(t) + 1 for t in current)
        current.append(line)
        size += len(line) + 1
    if current:
        pieces.append("\n".join(current).strip("\n"))
    return [piece for piece in pieces if piece.strip()]
