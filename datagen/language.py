"""Document languages: detected with py3langid (a maintained langid.py fork, model shipped in the
wheel), recorded per document and chunk, and checked against the retrieval settings.

The embedded embedder (MiniLM) and the default BM25 stemmer are English-only; a corpus in another
language gets a warning naming the settings to change (a multilingual sentence-transformers model
for ``retrieval.embedder``, the language's ``retrieval.bm25_stemmer``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Mapping
from typing import Any

from .loaders import LoadResult

UNDETERMINED = "und"
MIN_LETTERS = 40  # below this the guess is noise: the document is "und"
SAMPLE_CHARS = 4000  # the first characters decide: enough for a stable guess, cheap on long files
#: Embedders known to be English-only (names as configured).
ENGLISH_ONLY_EMBEDDERS = ("minilm", "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")
#: ISO 639-1 code → PyStemmer language, for the languages both know.
STEMMER_OF = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "et": "estonian", "eu": "basque", "fa": "persian", "fi": "finnish",
    "fr": "french", "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "sv": "swedish", "ta": "tamil",
    "tr": "turkish",
}  # fmt: skip


@functools.lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str:
    """The ISO 639-1 code of ``text``'s language, or ``und`` when it has too few letters to tell.

    >>> detect_language("The harbour office opened in spring and kept a ledger of every ship that came in.")
    'en'
    >>> detect_language("Das Hafenamt wurde im Frühling eröffnet und führte ein Buch über jedes Schiff.")
    'de'
    >>> detect_language("x = 1; y = 2;")
    'und'
    """
    sample = text[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return UNDETERMINED
    language, _ = _identifier().classify(sample)
    return str(language)


def with_languages(loaded: LoadResult) -> LoadResult:
    """``loaded`` with each document's language in its metadata (``language``), which its chunks inherit."""
    documents = [
        dataclasses.replace(doc, metadata={**doc.metadata, "language": detect_language(doc.text)})
        for doc in loaded.documents
    ]
    return dataclasses.replace(loaded, documents=documents)


def retrieval_warnings(languages: Mapping[str, int], embedder: str, stemmer: str) -> list[str]:
    """One line per retrieval setting that does not fit the corpus's languages (``{code: documents}``).

    >>> retrieval_warnings({"en": 3, "de": 2}, "minilm", "english")[0]
    "2 of 5 documents are not English (de 2) but retrieval.embedder='minilm' is English-only: set it to a multilingual sentence-transformers model (e.g. paraphrase-multilingual-MiniLM-L12-v2)"
    >>> retrieval_warnings({"en": 3}, "minilm", "english")
    []
    """
    counts = Counter({k: v for k, v in languages.items() if k != UNDETERMINED})
    total = sum(counts.values())
    other = {k: v for k, v in counts.most_common() if k != "en"}
    if not other:
        return []
    listed = ", ".join(f"{k} {v}" for k, v in other.items())
    warnings = []
    if embedder in ENGLISH_ONLY_EMBEDDERS:
        warnings.append(
            f"{sum(other.values())} of {total} documents are not English ({listed}) but retrieval.embedder="
            f"{embedder!r} is English-only: set it to a multilingual sentence-transformers model "
            "(e.g. paraphrase-multilingual-MiniLM-L12-v2)"
        )
    main = counts.most_common(1)[0][0]
    fitting = STEMMER_OF.get(main)
    if stemmer not in ("none", fitting):
        advice = f"retrieval.bm25_stemmer={fitting}" if fitting else "retrieval.bm25_stemmer=none"
        warnings.append(
            f"most documents are in {main!r} but retrieval.bm25_stemmer={stemmer!r}: set {advice} "
            "(one stemmer per index; a mixed corpus is better served by one index per language)"
        )
    return warnings
