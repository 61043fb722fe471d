"""Library code (docstrings and doctests included) holds no words of the bundled example corpus.

The bundled report is one user's data: examples in the library use neutral text, so nothing
in the code is tuned to, or reads as written for, that one document. Tests, benchmarks and
configs may name it.
"""

from __future__ import annotations

import re

from tests.architecture import layers

#: Names and phrases specific to the bundled report (examples/); generic words are not listed.
CORPUS_TERMS = (
    "apollo",
    "odyssey",
    "aquarius",
    "oxygen tank",
    "lovell",
    "haise",
    "swigert",
    "mattingly",
    "kranz",
    "lunar module",
    "command module",
    "service module",
    "cryogenic",
    "fra mauro",
    "splashdown",
    "iwo jima",
    "houston",
    "55:54",
)
_TERMS = re.compile("|".join(rf"\b{re.escape(t)}\b" for t in CORPUS_TERMS), re.IGNORECASE)


def test_library_code_names_nothing_of_the_bundled_corpus():
    found = []
    for _, path in layers.iter_modules(layers.ROOT):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in _TERMS.finditer(line):
                found.append(f"{path.relative_to(layers.ROOT)}:{number}: {match.group()!r}")
    assert not found, "use neutral examples instead:\n" + "\n".join(found)
