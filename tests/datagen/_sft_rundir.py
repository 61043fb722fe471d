"""A small hand-written run dir (chunks, index, questions) for the teacher → dataset tests.

Twenty chunks about a made-up space mission, one fact each, two questions per chunk with
known answers; splits are assigned by chunk with the datagen splitter, the index is built
with the real ``Retriever`` (BM25 kind by default; its dense index embeds with MiniLM).
"""

from __future__ import annotations

from pathlib import Path

from teacherforge.config import RetrievalConfig
from teacherforge.datagen.splits import assign_splits
from teacherforge.records import Question, save_questions
from teacherforge.types import Chunk
from teacherforge.workspace import atomic_write_jsonl

FACTS = [
    (
        "Orion Relay launched from Kourou on 14 March at 09:12 local time.",
        "When did Orion Relay launch?",
        "14 March at 09:12",
    ),
    (
        "The mission commander of Orion Relay was Ingrid Valtersson.",
        "Who commanded Orion Relay?",
        "Ingrid Valtersson",
    ),
    (
        "The second stage burned for 412 seconds before separation.",
        "How long did the second stage burn?",
        "412 seconds",
    ),
    (
        "A helium leak in the reaction control quad B was found on day two.",
        "What leaked in quad B?",
        "helium",
    ),
    (
        "The crew vented the leaking quad and switched to the backup thrusters.",
        "What did the crew switch to?",
        "the backup thrusters",
    ),
    (
        "The spacecraft docked with the Meridian station after 27 orbits.",
        "After how many orbits did it dock?",
        "27 orbits",
    ),
    ("Meridian station carried a spectrometer built in Tartu.", "Where was the spectrometer built?", "Tartu"),
    (
        "The solar arrays produced 6.4 kilowatts at the start of the mission.",
        "How much power did the arrays make?",
        "6.4 kilowatts",
    ),
    (
        "A micrometeoroid struck the left array on day five and cut output by 9 percent.",
        "By how much did the strike cut output?",
        "9 percent",
    ),
    (
        "Flight controllers in Darmstadt rerouted power to the science payload.",
        "Where were the flight controllers?",
        "Darmstadt",
    ),
    (
        "The science payload measured cosmic ray flux for 63 hours.",
        "How long was cosmic ray flux measured?",
        "63 hours",
    ),
    (
        "The crew grew dwarf wheat in the Veggie-3 chamber for 18 days.",
        "What did the crew grow?",
        "dwarf wheat",
    ),
    (
        "Water recovery efficiency reached 93 percent by the end of week one.",
        "What was water recovery efficiency?",
        "93 percent",
    ),
    (
        "A cabin fan failed on day nine and was replaced with a spare from locker 4C.",
        "Where did the spare fan come from?",
        "locker 4C",
    ),
    (
        "The undocking took place on 2 April after a 19 day stay.",
        "How long did the crew stay docked?",
        "19 day",
    ),
    (
        "The deorbit burn lasted 3 minutes 40 seconds over the Pacific.",
        "How long was the deorbit burn?",
        "3 minutes 40 seconds",
    ),
    (
        "The capsule splashed down 340 kilometres west of Lima.",
        "Where did the capsule splash down?",
        "340 kilometres west of Lima",
    ),
    (
        "Recovery ship Albatros reached the capsule 48 minutes after splashdown.",
        "Which ship recovered the capsule?",
        "Albatros",
    ),
    (
        "Post-flight inspection found scorching on heat shield panel 12.",
        "Which heat shield panel was scorched?",
        "panel 12",
    ),
    (
        "The mission report was signed by program manager Tomasz Wierzbicki.",
        "Who signed the mission report?",
        "Tomasz Wierzbicki",
    ),
]
DIFFICULTY = ("easy", "medium", "hard")


def make_chunks() -> list[Chunk]:
    """One chunk per fact, with a little filler so texts are passage-like."""
    chunks = []
    for i, (fact, _, _) in enumerate(FACTS):
        text = f"{fact} This was recorded in the flight log section {i + 1} of the report."
        chunks.append(
            Chunk(
                chunk_id=f"orion-{i}",
                doc_id="orion",
                source="orion.md",
                text=text,
                start_char=i * 200,
                end_char=i * 200 + len(text),
            )
        )
    return chunks


def make_questions(chunks: list[Chunk], seed: int = 0) -> list[Question]:
    """Two questions per chunk (the fact question and a paraphrase), split by chunk."""
    splits = assign_splits([c.chunk_id for c in chunks], [0.6, 0.2, 0.2], seed=seed)
    out = []
    for i, (chunk, (_, question, answer)) in enumerate(zip(chunks, FACTS)):
        for j, text in enumerate((question, f"According to the report, {question[0].lower()}{question[1:]}")):
            out.append(
                Question(
                    id=f"{chunk.chunk_id}:q{j}",
                    chunk_id=chunk.chunk_id,
                    question=text,
                    answer=answer,
                    difficulty=DIFFICULTY[(i + j) % 3],
                    split=splits[chunk.chunk_id],
                    source_chunk_ids=(chunk.chunk_id,),
                )
            )
    return out


def build_run_dir(path: Path, kind: str = "bm25", embedder=None) -> Path:
    """Write ``chunks.jsonl``, ``questions.json`` and ``index/`` into ``path``; return it."""
    from teacherforge.retrieval import Retriever

    chunks = make_chunks()
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(path / "chunks.jsonl", [c.to_json() for c in chunks])
    save_questions(path / "questions.json", make_questions(chunks))
    Retriever.build(chunks, RetrievalConfig(kind=kind), embedder).save(path / "index")
    return path


def teacher_responder(prompt, sample_index: int) -> str:
    """Scripted teacher: cites source [1] and repeats the first source's first sentence."""
    system = prompt[0].content
    if "[1] " not in system:
        return "The provided sources do not contain the answer to this question."
    first = system.split("[1] ", 1)[1].split(". ")[0]
    return f"{first} [1]."


def fake_teacher():
    """Factory for ``llm.backend: custom`` configs (``llm.model: tests.datagen._sft_rundir:fake_teacher``)."""
    from teacherforge.llm import FakeBackend

    return FakeBackend(teacher_responder, identity="fake-teacher")
