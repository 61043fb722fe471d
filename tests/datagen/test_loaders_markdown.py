"""The Markdown reader: what a reader sees reaches the text, markup and page chrome do not."""

from __future__ import annotations

import re
from pathlib import Path

from teacherforge.config import ChunkingConfig
from teacherforge.datagen import loaders_formats, loaders_markdown
from teacherforge.datagen.chunking import chunk_documents
from teacherforge.datagen.loaders import Document, load_corpus
from teacherforge.datagen.loaders_markdown import CODE_PIECE_CHARS, read_markdown


def md(src: str) -> tuple[str, dict]:
    """Text and metadata of a Markdown string, normalised as the loader does."""
    text, meta = read_markdown(Path("page.md"), src.encode("utf-8"))
    return loaders_formats.clean_extracted_text(text), meta


def fences(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip().startswith("```")]


def test_md_and_markdown_use_the_reader():
    assert loaders_formats.READERS[".md"] is read_markdown
    assert loaders_formats.READERS[".markdown"] is read_markdown
    assert loaders_formats.READERS[".txt"] is loaders_formats.read_text


def test_front_matter_goes_to_metadata_never_to_the_text():
    text, meta = md(
        "---\ntitle: Pump manual\ntags: [setup, cli]\nauthor: someone\n---\n# Start\n\nBody here.\n"
    )
    assert text == "# Start\n\nBody here."
    assert meta["title"] == "Pump manual" and meta["tags"] == ["setup", "cli"]
    assert "front_matter_error" not in meta


def test_invalid_front_matter_is_dropped_with_the_reason():
    text, meta = md("---\ntitle: [unclosed\n---\nBody here.\n")
    assert text == "Body here."
    assert "invalid YAML front matter at line" in meta["front_matter_error"]
    _, meta = md("---\n- just\n- a list\n---\nBody.\n")
    assert "not a mapping" in meta["front_matter_error"]


def test_headings_paragraphs_and_inline_markup():
    text, meta = md(
        "Setup Guide\n===========\n\nRun *this* **now** with `make`, see [the docs](https://x.org/docs)\n"
        "and <https://example.org/a>.\n\n## Next\n"
    )
    assert text == (
        "# Setup Guide\n\nRun this now with make, see the docs and https://example.org/a.\n\n## Next"
    )
    assert "x.org/docs" not in text
    assert meta["markdown"]["headings"] == 2


def test_images_and_badges_keep_only_their_alt_text():
    text, _ = md(
        "[![Build status](https://img.shields.io/badge/build-ok-green.svg)](https://ci.example.org) "
        "[![](https://img.shields.io/pypi/v/x.svg)](https://pypi.org/x)\n\n"
        "The ![flow diagram](img/flow.png) shows the path. ![](img/blank.png)\n"
    )
    assert text == "Build status\n\nThe flow diagram shows the path."
    assert "shields" not in text and ".png" not in text


def test_script_style_and_redirect_stubs_never_reach_the_text(tmp_path):
    style = "<style>\n.popup { color: red; }\n\n.x { top: 0 }\n</style>\n"
    script = "<script>\nfunction setCookie(n) { document.cookie = n; }\n</script>\n"
    text, meta = md(
        f"{style}\nThe pump starts slowly.\n\n{script}\nInline <script>alert(1)</script> is gone.\n"
    )
    assert text == "The pump starts slowly.\n\nInline is gone."
    assert meta["markdown"]["html_blocks"] == 2
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "moved.md").write_text(
        '<!DOCTYPE html>\n<html><head><meta http-equiv="refresh" content="0; url=new.html">\n'
        f"<title>Redirect</title>\n{style}{script}</head>\n"
        '<body><p>Redirecting to <a href="new.html">the new page</a>...</p></body></html>\n'
    )
    (corpus / "bare.md").write_text(f"{style}\n{script}")
    (corpus / "good.md").write_text("# Good\n\nA page with prose.\n")
    result = load_corpus(corpus)
    assert [d.doc_id for d in result.documents] == ["good.md"]
    assert sorted((Path(f.path).name, f.reason) for f in result.failures) == [
        ("bare.md", "no text after extraction (only whitespace or markup)"),
        ("moved.md", "no text after extraction (only whitespace or markup)"),
    ]


def test_html_and_gfm_tables_become_rows_of_cells():
    text, meta = md(
        "<table><tr><th>a</th><th>b</th><th>c</th></tr>\n<tr><td>1</td><td></td><td>3</td></tr>"
        "<tr><td>x</td><td></td><td></td></tr></table>\n\n"
        "| Name | Value |\n|------|------:|\n| alpha | **1** |\n|  | 2 |\n"
    )
    assert text == "a | b | c\n1 | | 3\nx\n\nName | Value\nalpha | 1\n| 2"
    assert meta["markdown"]["tables"] == 2 and "<" not in text


def test_lists_one_item_a_line_numbers_kept():
    text, _ = md("3. first\n4. second\n   - nested *item*\n\n- bullet\n+ plus\n")
    assert text == "3. first\n4. second\n   - nested item\n\n- bullet\n\n- plus"


def _chunks(text: str, cfg: ChunkingConfig) -> list[str]:
    doc = Document(doc_id="page.md", source="page.md", text=text)
    return [c.text for c in chunk_documents([doc], cfg).chunks]


def test_a_short_code_fence_stays_whole_in_one_chunk_wherever_it_falls():
    code = "\n".join(f"value_{i} = compute(step={i})" for i in range(9))  # ~250 chars, no blank line
    sentence = "The valve closes when the pressure drops below the set point. "
    cfg = ChunkingConfig()
    for lead in range(0, 12):
        src = f"{sentence * lead}\n\n```python\n{code}\n```\n\n{sentence * 12}\n"
        text, meta = md(src)
        assert meta["code_blocks"] == 1
        block = f"```python\n{code}\n```"
        holding = [c for c in _chunks(text, cfg) if "value_" in c]
        assert len(holding) == 1 and block in holding[0], lead


def test_a_long_code_block_splits_at_lines_into_closed_fences():
    lines = [f"    total_{i} = accumulate(total_{i - 1}, item_{i})  # running sum" for i in range(60)]
    text, meta = md("Before the code.\n\n```python\n" + "\n".join(lines) + "\n```\n\nAfter the code.\n")
    assert meta["code_blocks"] == 1 and meta["markdown"]["code_blocks"] == 1
    pieces = re.findall(r"```python[^\n]*\n.*?\n```", text, re.DOTALL)
    assert len(pieces) > 1 and all(len(p) <= CODE_PIECE_CHARS for p in pieces)
    assert fences(text) == ["```python", "```"] + ["```python (continued)", "```"] * (len(pieces) - 1)
    kept = [line for p in pieces for line in p.split("\n")[1:-1]]
    assert kept == lines  # every line, in order, none cut
    for chunk in _chunks(text, ChunkingConfig()):
        assert len(fences(chunk)) % 2 == 0, chunk  # no chunk holds an unclosed fence


def test_indented_code_and_backticks_inside_code():
    text, meta = md("Para.\n\n    indented = True\n\n````md\n```inner```\n````\n")
    assert text == "Para.\n\n```\nindented = True\n```\n\n````md\n```inner```\n````"
    assert meta["code_blocks"] == 2


def test_myst_directives_and_roles_become_their_text():
    text, meta = md(
        "(install-label)=\n# Install\n\n"
        "Read {ref}`install-guide`, call :func:`connect`, :py:meth:`~pkg.Client.fetch` or {doc}`Intro <intro>`.\n\n"
        "```{note}\nBack up **first**.\n```\n\n"
        ":::{warning}\n:class: dropdown\nDo not unplug.\n:::\n\n"
        "```{admonition} Field tip\nOil it yearly.\n```\n\n"
        "```{code-block} bash\necho hi\n```\n\n"
        "```{toctree}\n:maxdepth: 2\ninstall\nusage\n```\n\n"
        "```{autoclass} pkg.Client\n:members:\n```\n"
    )
    assert text == (
        "# Install\n\nRead install-guide, call connect, fetch or Intro.\n\n"
        "Note: Back up first.\n\nWarning: Do not unplug.\n\nField tip: Oil it yearly.\n\n```bash\necho hi\n```"
    )
    assert meta["api_reference_directives"] == 1 and meta["code_blocks"] == 1


def test_rst_directives_dropped_api_ones_counted_bodies_kept():
    text, meta = md(
        "Intro text.\n\n"
        ".. automodule:: pkg.mod\n   :members:\n   :undoc-members:\n\n"
        ".. automethod:: Client.fetch\n.. autofunction:: pkg.helper\n\n"
        ".. _target-label:\n\n"
        ".. note::\n\n   Body of the note.\n\n"
        ".. figure:: img/flow.png\n   :width: 80%\n\n   The flow of the pump.\n\n"
        ".. code-block:: bash\n\n    echo hi\n\n"
        "```{eval-rst}\n.. autoclass:: pkg.Thing\n\nPlain paragraph about :class:`Thing`.\n```\n"
    )
    assert text == (
        "Intro text.\n\nNote: Body of the note.\n\nThe flow of the pump.\n\n```bash\necho hi\n```\n\n"
        "Plain paragraph about Thing."
    )
    assert meta["api_reference_directives"] == 4
    assert "::" not in text and ":members:" not in text


def test_txt_stays_raw(tmp_path):
    (tmp_path / "a.txt").write_text("# Title\n\nThe *raw* <b>text</b>.\n")
    (tmp_path / "b.md").write_text("# Title\n\nThe *raw* <b>text</b>.\n")
    docs = {d.doc_id: d for d in load_corpus(tmp_path).documents}
    assert docs["a.txt"].text == "# Title\n\nThe *raw* <b>text</b>."
    assert docs["b.md"].text == "# Title\n\nThe raw text."
    assert docs["b.md"].metadata["format"] == "md"
    assert docs["b.md"].metadata["markdown"] == {
        "headings": 1,
        "code_blocks": 0,
        "tables": 0,
        "html_blocks": 0,
    }


def test_bundled_report_tables_reach_chunks_as_rows(apollo_report):
    result = load_corpus(apollo_report)
    (doc,) = result.documents
    assert doc.metadata["markdown"]["tables"] == 40
    chunks = chunk_documents(result.documents, ChunkingConfig()).chunks
    assert chunks
    assert not [c.chunk_id for c in chunks if "<td>" in c.text or "<tr>" in c.text]
    assert "Tank 2 | 29.2 | 327.2" in doc.text  # a row of the cryogenics table, cells kept
    assert "AS-202 | SC-011 | Supercircular entry with high heat load" in doc.text
    assert "![" not in doc.text and "images/" not in doc.text


def test_module_doctest():
    import doctest

    assert doctest.testmod(loaders_markdown).failed == 0
