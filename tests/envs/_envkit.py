"""Test doubles and data for the environment tests: ten hand-written chunks with questions and
paraphrases, a fast keyword retriever, a character tokenizer, a task over them."""

from __future__ import annotations

import re

from teacherforge.types import Chunk, Hit

CHUNK_TEXTS = {
    "velmora-0": "The lighthouse of Velmora was built in 1847 by the engineer Tomas Reyl. "
    "Its lamp burned whale oil until 1902.",
    "velmora-1": "The Velmora fish market opens at four in the morning. Cod, herring and mackerel "
    "are sold by auction under the old stone arcade.",
    "velmora-2": "Velmora's town council has nine members elected every five years. "
    "The mayor, Ada Brenn, has chaired the council since 2019.",
    "velmora-3": "A ferry connects Velmora to the island of Skarn twice a day. "
    "The crossing takes ninety minutes in calm weather.",
    "velmora-4": "The annual Salt Festival in Velmora is held in the second week of August "
    "and celebrates the town's salt works.",
    "velmora-5": "Velmora's school of navigation trains about sixty cadets per year in seamanship, "
    "astronomy and chart reading.",
    "velmora-6": "The great storm of 1953 destroyed the northern pier of Velmora and flooded "
    "the lower town for three days.",
    "velmora-7": "The railway reached Velmora in 1889, linking the harbor to the inland city of Dornhal.",
    "velmora-8": "Velmora's brewery produces a dark ale called Keeper's Stout, named after "
    "the lighthouse keepers.",
    "velmora-9": "The town museum of Velmora displays the original brass lens of the lighthouse, "
    "removed in 1960.",
}

# hand-written paraphrases with little word overlap with the originals
PARAPHRASES = {
    "velmora-0": "Tomas Reyl designed the coastal beacon in 1847; whale fat fed its flame until 1902.",
    "velmora-1": "Before dawn, traders bid on cod and herring beneath ancient masonry arches.",
    "velmora-2": "Nine elected representatives govern the municipality, led since 2019 by Ada Brenn.",
    "velmora-3": "Twice daily a boat carries passengers across the strait to Skarn; "
    "the trip lasts an hour and a half when the sea is quiet.",
    "velmora-4": "Each mid-August, residents throw a party honouring their saltpans.",
    "velmora-5": "Roughly sixty young sailors a year learn stargazing and map skills at the maritime academy.",
    "velmora-6": "A 1953 tempest wrecked the north jetty and left the low streets underwater for 72 hours.",
    "velmora-7": "Trains first arrived in 1889, tying the port to Dornhal further inland.",
    "velmora-8": "A local brewer makes Keeper's Stout, a black beer honouring beacon wardens.",
    "velmora-9": "The brass optic of the beacon, taken out in 1960, is on show at the local exhibition hall.",
}

QUESTIONS = [
    ("q0", "velmora-0", "Who built the lighthouse of Velmora?", "Tomas Reyl", "train"),
    ("q1", "velmora-1", "At what time does the Velmora fish market open?", "four in the morning", "train"),
    ("q2", "velmora-2", "Who is the mayor of Velmora?", "Ada Brenn", "train"),
    ("q3", "velmora-3", "How long does the ferry crossing to Skarn take?", "ninety minutes", "train"),
    ("q4", "velmora-4", "When is the Salt Festival held?", "the second week of August", "train"),
    ("q5", "velmora-5", "How many cadets does the navigation school train per year?", "about sixty", "train"),
    ("q6", "velmora-6", "In which year did the great storm destroy the northern pier?", "1953", "validation"),
    ("q7", "velmora-7", "Which inland city does the railway link Velmora to?", "Dornhal", "validation"),
    ("q8", "velmora-8", "What is the name of the dark ale brewed in Velmora?", "Keeper's Stout", "test"),
    ("q9", "velmora-9", "When was the brass lens removed from the lighthouse?", "1960", "test"),
]


def chunks() -> list[Chunk]:
    """The ten chunks as :class:`Chunk` records."""
    return [Chunk(cid, "velmora.md", "velmora.md", text) for cid, text in CHUNK_TEXTS.items()]


def question_records(questions=QUESTIONS) -> list[dict]:
    """``questions.json`` records of ``(id, chunk_id, question, answer, split)`` tuples (default: the tiny corpus)."""
    return [
        {
            "id": qid,
            "chunk_id": cid,
            "question": q,
            "answer": a,
            "difficulty": "easy",
            "split": split,
            "source_chunk_ids": [cid],
            "metadata": {},
        }
        for qid, cid, q, a, split in questions
    ]


class KeywordRetriever:
    """Fast, deterministic test double: ranks chunks by shared lowercase words."""

    def __init__(self, texts: dict[str, str] | None = None) -> None:
        self.texts = dict(texts or CHUNK_TEXTS)
        self.words = {cid: set(re.findall(r"\w+", t.lower())) for cid, t in self.texts.items()}
        self.calls: list[list[str]] = []

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        """Top-``k`` chunks per query by word overlap (ties by chunk id)."""
        self.calls.append(list(queries))
        out = []
        for query in queries:
            words = set(re.findall(r"\w+", query.lower()))
            scored = sorted(
                ((len(words & w) / (1 + len(w)), cid) for cid, w in self.words.items()),
                key=lambda item: (-item[0], item[1]),
            )
            out.append(
                [Hit(cid, score, rank, self.texts[cid]) for rank, (score, cid) in enumerate(scored[:k], 1)]
            )
        return out


def make_task(retriever=None, questions=None, rubric="autodidact", top_k: int = 2, **env):
    """A :class:`SearchTask` over the tiny corpus: keyword retriever, every question, ``top_k``
    hits, ``env`` overriding :class:`EnvConfig` fields (default ``max_turns=4``)."""
    from teacherforge.config import EnvConfig
    from teacherforge.envs.task import SearchTask
    from teacherforge.rewards import load_rubric

    return SearchTask(
        EnvConfig(**{"max_turns": 4, **env}),
        retriever if retriever is not None else KeywordRetriever(),
        questions if questions is not None else question_records(),
        load_rubric(rubric) if isinstance(rubric, str) else rubric,
        top_k=top_k,
    )


EOS = 0


class CharTokenizer:
    """Character-level tokenizer double: one id per character (``ord``), id 0 is EOS."""

    chat_template = None
    eos_token_id = EOS

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return "".join(chr(i) for i in ids if not (skip_special_tokens and i == EOS))


def write_run_dir(
    run, records: list[dict] | None = None, kind: str = "bm25", corpus: list[Chunk] | None = None
):
    """A real run dir: chunks.jsonl, a saved retriever in ``index/``, questions.json (default: the tiny corpus)."""
    from teacherforge.config import RetrievalConfig
    from teacherforge.retrieval import Retriever
    from teacherforge.workspace import atomic_write_json, atomic_write_jsonl

    corpus = corpus if corpus is not None else chunks()
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(run / "chunks.jsonl", [c.to_json() for c in corpus])
    Retriever.build(corpus, RetrievalConfig(kind=kind)).save(run / "index")
    atomic_write_json(run / "questions.json", records if records is not None else question_records())
    return run
