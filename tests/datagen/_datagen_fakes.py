"""Scripted LLM backends for the datagen tests, importable by ``build_backend`` as ``tests.datagen._datagen_fakes:<factory>``.

``scripted_backend`` answers question prompts with two valid pairs grounded in the target
passage (malformed JSON for passages containing "MALFORMED"), and paraphrase prompts with a
light rewrite (a refusal for passages containing "REFUSE"). ``slow_backend`` is the same but
sleeps ``DATAGEN_FAKE_DELAY`` seconds per ``generate`` call and appends ``start <key>`` /
``done <key>`` lines to the file named by ``DATAGEN_FAKE_LOG`` (key = hash of prompt + seed),
so a test can kill the process mid-call and check that no finished call was repeated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence

from teacherforge.llm import FakeBackend, prompt_text
from teacherforge.types import Completion, GenerationParams, Prompt, prompt_to_json


def _passage(text: str) -> str:
    found = re.findall(r"<passage>\n(.*?)\n</passage>", text, re.DOTALL)
    return found[-1] if found else ""


def _facts(passage: str) -> list[str]:
    """Distinct capitalised or numeric words of the passage, in order."""
    seen: list[str] = []
    for word in re.findall(r"\b(?:[A-Z][a-z]{3,}|\d{2,})\b", passage):
        if word not in seen:
            seen.append(word)
    return seen


def respond(prompt: Prompt, sample_index: int) -> str:
    """The scripted answer to one question or paraphrase prompt."""
    text = prompt_text(prompt)
    if "Target passage:" in text:
        passage = _passage(text)
        if "MALFORMED" in passage:
            return '[{"question": "broken'
        facts = _facts(passage) or ["nothing"]
        pairs = [
            {
                "question": f"Which word number {i + 1} of interest does the report give here?",
                "answer": f,
                "difficulty": "easy",
            }
            for i, f in enumerate(facts[:2])
        ]
        return json.dumps(pairs)
    if "Passage A:" in text:
        a, b = re.findall(r"<passage>\n(.*?)\n</passage>", text, re.DOTALL)[:2]
        fact = (_facts(a) or ["nothing"])[0]
        return json.dumps(
            [
                {
                    "question": f"Which name links the two reports about {(_facts(b) or ['it'])[0]}?",
                    "answer": fact,
                    "difficulty": "hard",
                }
            ]
        )
    if "Passage:\n" in text:
        passage = text.split("Passage:\n", 1)[1]
        if "REFUSE" in passage:
            return "I'm sorry, but I cannot rewrite this passage."
        tokens = passage.split()
        return "Rewritten: " + " ".join(t for i, t in enumerate(tokens) if i % 4 != 3)
    return "unknown prompt"


def make_corpus(root: str | os.PathLike[str]) -> None:
    """Three small markdown documents (12 paragraphs); one paragraph says MALFORMED, one REFUSE."""
    os.makedirs(root, exist_ok=True)
    topics = ["Oxygen", "Battery", "Guidance", "Thermal", "Recovery", "Propulsion"]
    for d in range(3):
        paras = []
        for p in range(4):
            t = topics[(d * 4 + p) % len(topics)]
            extra = " MALFORMED" if (d, p) == (0, 1) else (" REFUSE" if (d, p) == (1, 2) else "")
            paras.append(
                f"The {t} subsystem report number {d}{p} describes events near Houston in 1970. "
                f"Engineers measured {120 + 7 * p + d} units during test {d * 10 + p}{extra}. "
                f"The {t} team at Kennedy concluded the {t.lower()} hardware met every requirement."
            )
        with open(os.path.join(root, f"doc{d}.md"), "w", encoding="utf-8") as fh:
            fh.write("\n\n".join(paras))


#: ``--set`` overrides that run the datagen stage on :func:`make_corpus` with the scripted backend.
OVERRIDES = [
    "datagen.generator=llm",
    "datagen.llm.backend=custom",
    "datagen.chunking.size=250",
    "datagen.chunking.min_chars=20",
    "datagen.batch_size=4",
    "datagen.min_answer_similarity=0",
    "datagen.max_retries=1",
    "datagen.paraphrase.min_similarity=0.5",
    "datagen.paraphrase.max_retries=1",
]


def scripted_backend() -> FakeBackend:
    """A fast scripted backend (no delay, no log)."""
    return FakeBackend(respond, identity="fake-datagen")


def call_key(prompt: Prompt, params: GenerationParams) -> str:
    """Identity of one prompt sent with one seed (what the cache keys on, minus the model)."""
    blob = json.dumps([prompt_to_json(prompt), params.seed], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class LoggingBackend(FakeBackend):
    """:class:`FakeBackend` that logs ``start``/``done`` per prompt to ``DATAGEN_FAKE_LOG``."""

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        path = os.environ.get("DATAGEN_FAKE_LOG")
        keys = [call_key(p, params) for p in prompts]
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("".join(f"start {k}\n" for k in keys))
        out = super().generate(prompts, params)
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("".join(f"done {k}\n" for k in keys))
        return out


def slow_backend() -> LoggingBackend:
    """The scripted backend, sleeping ``DATAGEN_FAKE_DELAY`` s (default 0.5) per call, logging calls."""
    return LoggingBackend(
        respond, delay_s=float(os.environ.get("DATAGEN_FAKE_DELAY", "0.5")), identity="fake-datagen"
    )


class HashEmbedder:
    """A toy embedder (hashed bag of lower-cased words, L2-normalised) with the ``Embedder`` surface.

    Texts sharing most words are close, unrelated texts are near-orthogonal: enough for the
    similarity filters and a FAISS index in fast tests, with no model to load.
    """

    def __init__(self, *args: object, dim: int = 512, **kwargs: object) -> None:
        self.name = "hash-bow"
        self.path = "hash-bow"
        self.dim = dim
        self.cache_enabled = False  # nothing to reuse: hashing is as cheap as a lookup
        self.cache_hits = 0

    @property
    def identity(self) -> dict:
        return {"name": self.name, "dim": self.dim, "normalize": True, "weights_sha256": None}

    def encode(self, texts: Sequence[str]):
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def cli_with_toy_embedder(argv: Sequence[str]) -> int:
    """``teacherforge`` CLI main with :class:`HashEmbedder` in place of the embedding model.

    For subprocess tests that exercise the real command (kill/resume) without paying for
    torch and a sentence-transformers model in every process.
    """
    import teacherforge.retrieval
    from teacherforge.cli import main

    teacherforge.retrieval.Embedder = HashEmbedder
    return main(list(argv))
