"""The dataset card: ``dataset/README.md`` in Hugging Face dataset-card form.

YAML front matter first: ``license``, ``configs`` (``data_files`` of each non-empty split, so
``datasets.load_dataset("<run dir>/dataset")`` loads the JSONL splits) and the usual tags
(``dataset_info`` is left to the Hub: its byte sizes are of Arrow files). Then Markdown: the
counts per split, the files, the sources (documents, chunks, how many examples cite each), the
lineage (dataset version and parent, the run's step fingerprints, this build's input hashes,
the teacher models and question generators behind the examples, a feedback round's parent run)
and the generation methods per split. No licence is configured anywhere, so the card says
``unknown`` and asks for one before the dataset is shared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teacherforge.records import SPLITS, Question, TeacherRecord
from teacherforge.run import NAMES

UNKNOWN_LICENSE = "unknown"
#: Documents listed one by one in the sources table; the rest are summed up in one line.
MAX_SOURCE_ROWS = 50
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


@dataclass(frozen=True)
class DatasetCard:
    """What the card of one dataset build says; :meth:`render` writes it out."""

    name: str
    version: str
    parent: str | None
    counts: Mapping[str, int]
    """Examples per split."""
    methods: Mapping[str, Mapping[str, int]]
    """Examples per generation method and split."""
    skipped: Mapping[str, int]
    """Teacher records left out, by reason."""
    sources: Sequence[tuple[str, int, int]]
    """Per corpus document: its chunks and the examples whose source chunks are in it."""
    chunks: int
    teacher_models: Mapping[str, int]
    """Teacher records behind the examples, per model."""
    question_generators: Mapping[str, int]
    """Questions behind the examples, per generator."""
    steps: Sequence[tuple[str, str, str]]
    """The run's finished steps: name, fingerprint (none for a step that always reruns), finish time."""
    inputs: Mapping[str, str]
    """This build's input files and their content hashes."""
    feedback_round: Mapping[str, Any] | None
    data_files: Mapping[str, str]
    """Each split's JSONL file, relative to the card."""
    files: Sequence[tuple[str, str]]
    """The files next to the card and what they hold."""
    license: str = UNKNOWN_LICENSE
    """A Hugging Face licence id (``dataset.license``)."""

    def render(self) -> str:
        """The card's text: YAML front matter, then Markdown."""
        return f"---\n{self._front_matter()}---\n\n{self._body()}"

    def _front_matter(self) -> str:
        import yaml

        filled = [s for s in SPLITS if self.counts.get(s)]
        total = sum(self.counts.values())
        meta = {
            "license": self.license,
            "pretty_name": f"teacherforge {self.name} {self.version}",
            "task_categories": ["question-answering", "text-generation"],
            "tags": ["teacherforge", "rag", "synthetic"],
            "size_categories": [next((label for limit, label in _SIZES if total < limit), "n>1M")],
            "configs": [
                {
                    "config_name": "default",
                    "data_files": [{"split": s, "path": self.data_files[s]} for s in filled],
                }
            ],
        }
        return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)

    def _body(self) -> str:
        methods = sorted(self.methods)
        lines = [
            f"# teacherforge dataset `{self.version}`",
            "",
            f"Chat-format retrieval-augmented question answering built by `teacherforge dataset` (config "
            f"`{self.name}`). Each row's `messages` are a system turn (instructions and the numbered "
            "retrieved passages), the user's question and the assistant's answer citing passages as `[n]`; "
            "`rag_failure` rows answer that the passages do not hold the answer. Splits are assigned by "
            "source chunk: no chunk's text is in two splits.",
            "",
            "## Splits",
            "",
            *_table(["split", "examples"], [[s, self.counts.get(s, 0)] for s in SPLITS]),
            "",
            "Teacher records left out: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none")
            + ".",
            "",
            "## Files",
            "",
            *[f"- `{path}`: {what}" for path, what in self.files],
            "",
            "## Sources",
            "",
            f"Documents: {len(self.sources)}; chunks: {self.chunks}.",
            "",
            *_table(
                ["document", "chunks", "examples"],
                [list(row) for row in self.sources[:MAX_SOURCE_ROWS]] + _more(self.sources[MAX_SOURCE_ROWS:]),
            ),
            "",
            "## Lineage",
            "",
            f"- dataset version `{self.version}`, parent `{self.parent}` (content hashes of the three "
            "JSONL splits)",
            *(
                [
                    f"- feedback round {self.feedback_round.get('round')} of "
                    f"`{self.feedback_round.get('parent_run_dir')}` (its dataset "
                    f"`{self.feedback_round.get('parent_dataset_version')}`)"
                ]
                if self.feedback_round
                else []
            ),
            "- teacher models (records): " + _counts(self.teacher_models),
            "- question generators (questions): " + _counts(self.question_generators),
            "- inputs of this build: " + ", ".join(f"`{k}` `{v}`" for k, v in sorted(self.inputs.items())),
            "",
            *_table(["step", "fingerprint", "finished"], [list(step) for step in self.steps]),
            "",
            "## Generation methods",
            "",
            *_table(
                ["method", *SPLITS], [[m, *(self.methods[m].get(s, 0) for s in SPLITS)] for m in methods]
            ),
            "",
            "## License",
            "",
            f"`{self.license}`"
            + (
                ": set it before sharing (`dataset.license`), as the corpus's own licence allows."
                if self.license == UNKNOWN_LICENSE
                else " (`dataset.license`)."
            ),
        ]
        return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table (cells with ``|`` escaped)."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def _more(rest: Sequence[tuple[str, int, int]]) -> list[list[Any]]:
    """The summary row of the documents beyond :data:`MAX_SOURCE_ROWS` (none when there are none)."""
    if not rest:
        return []
    return [[f"… {len(rest)} more", sum(r[1] for r in rest), sum(r[2] for r in rest)]]


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"`{k}` {v}" for k, v in sorted(counter.items())) or "none"


def _in_dataset(path: Path) -> str:
    """A layout name relative to ``dataset/`` (where the card and its ``data_files`` live)."""
    return path.relative_to(NAMES.dataset_dir).as_posix()


def _files(axolotl: bool, hf_dataset: bool) -> list[tuple[str, str]]:
    """The files of ``dataset/`` as its card lists them (``axolotl/`` and ``hf/`` when written)."""
    files = [
        (
            _in_dataset(NAMES.dataset_split("<split>")),
            "`id`, `messages`, `split`, `metadata` (difficulty, tags, generation method, question and chunk "
            'ids); `datasets.load_dataset("json", data_files=...)`',
        ),
        (_in_dataset(NAMES.dataset_info), "version, parent, counts, stratification by difficulty and tag"),
    ]
    if hf_dataset:
        files.append(
            (_in_dataset(NAMES.hf_dataset), "the splits as a `datasets.DatasetDict` (`load_from_disk`)")
        )
    if axolotl:
        files.append((_in_dataset(NAMES.axolotl_split("<split>")), "Axolotl `input_output` segments"))
    return files


def question_generator(question: Question) -> str:
    """How a question was made, as its metadata records it (``cloze``, ``llm (model)``, ``import_squad``).

    >>> question_generator(Question("q", "c", "Q?", "A", metadata={"generator": "llm", "model": "m"}))
    'llm (m)'
    >>> question_generator(Question("q", "c", "Q?", "A"))
    'unrecorded'
    """
    meta = question.metadata
    method = meta.get("generator") or meta.get("generation_method") or "unrecorded"
    return f"{method} ({meta['model']})" if meta.get("model") else method


def build_card(
    splits: Mapping[str, Sequence[Mapping[str, Any]]],
    info: Mapping[str, Any],
    *,
    name: str,
    chunks: Sequence[Mapping[str, Any]],
    records: Sequence[TeacherRecord],
    questions: Sequence[Question],
    manifest: Mapping[str, Any],
    inputs: Mapping[str, str],
    axolotl: bool,
    hf_dataset: bool,
    license: str = UNKNOWN_LICENSE,
) -> DatasetCard:
    """The card of the examples ``splits`` whose ``dataset_info.json`` is ``info``.

    ``chunks``, ``records`` and ``questions`` are the run's (looked up by the examples' ids),
    ``manifest`` the run dir's (its finished steps and a feedback round's lineage), ``inputs``
    this build's input hashes; ``axolotl`` and ``hf_dataset`` say which optional outputs were written.
    """
    examples = [ex for rows in splits.values() for ex in rows]
    methods: dict[str, Counter] = {}
    for ex in examples:
        methods.setdefault(ex["metadata"]["generation_method"], Counter())[ex["split"]] += 1
    source_of = {c["chunk_id"]: c["source"] for c in chunks}
    cited = Counter(
        doc for ex in examples for doc in {source_of.get(c, c) for c in ex["metadata"]["source_chunk_ids"]}
    )
    per_source = Counter(source_of.values())
    parents = {ex["metadata"]["parent_id"] for ex in examples}
    question_ids = {ex["metadata"]["question_id"] for ex in examples}
    return DatasetCard(
        name=name,
        version=info["version"],
        parent=info["parent"],
        counts=dict(info["counts"]),
        methods={m: dict(c) for m, c in methods.items()},
        skipped=dict(info["skipped"]),
        sources=[(source, per_source[source], cited[source]) for source in sorted(per_source)],
        chunks=len(chunks),
        teacher_models=dict(Counter(r.metadata.model for r in records if r.id in parents)),
        question_generators=dict(Counter(question_generator(q) for q in questions if q.id in question_ids)),
        steps=[
            (s["name"], s["fingerprint"] or "— (not fingerprinted)", s["finished_at"])
            for s in manifest.get("steps", [])
            if s.get("status") == "done"
        ],
        inputs=dict(inputs),
        feedback_round=manifest.get("lineage"),
        data_files={split: _in_dataset(NAMES.dataset_split(split)) for split in SPLITS},
        files=_files(axolotl, hf_dataset),
        license=license,
    )
