"""Completing a keyword as it is typed: the viewer's ``t`` offers the rest of the keyword (in
any case) for the last step of a path (:mod:`dcmstruct.paths`).

Keywords present where the step would look come first (the elements of the item the path has
reached, or anywhere in the file for a first step), then the other keywords of the dictionary;
in each, the shortest match first (``patient`` offers ``PatientID``; typing on narrows it).
"""

from __future__ import annotations

import bisect
from functools import cached_property

from dcmstruct import paths, specdata
from dcmstruct.arrays import distinct
from dcmstruct.index import ElementIndex
from dcmstruct.model import Kind


def _first_match(sorted_folded: list[tuple[str, str]], prefix: str) -> str | None:
    """The shortest keyword (then the first in order) whose folded form starts with
    ``prefix`` (folded), of ``sorted_folded`` = sorted (folded, keyword) pairs."""
    lo = bisect.bisect_left(sorted_folded, (prefix, ""))
    best: str | None = None
    for folded, keyword in sorted_folded[lo:]:
        if not folded.startswith(prefix):
            break
        if best is None or len(keyword) < len(best):
            best = keyword
    return best


def _folded(keywords: list[str]) -> list[tuple[str, str]]:
    return sorted((kw.casefold(), kw) for kw in keywords)


class Completer:
    """Completions for one file's index (its keyword sets made on first use, then kept)."""

    def __init__(self, index: ElementIndex) -> None:
        self.index = index

    @cached_property
    def _dictionary(self) -> list[tuple[str, str]]:
        return _folded(specdata.keywords())

    @cached_property
    def _in_file(self) -> list[tuple[str, str]]:
        c = self.index.columns
        tags = distinct(c.tag[c.kind == Kind.ELEMENT]).tolist()
        return _folded([kw for kw in map(specdata.keyword, tags) if kw])

    def _in_item(self, head: str) -> list[tuple[str, str]] | None:
        """The keywords of the item the path ``head`` (ending in ``[n]``) reaches, if it
        reaches one."""
        try:
            node = paths.find(self.index, head)
        except KeyError:
            return None
        if node < 0 or int(self.index.columns.kind[node]) != Kind.ITEM:
            return None
        return _folded(paths.keywords_in(self.index, node))

    def complete(self, text: str) -> str | None:
        """``text`` with its last step's keyword completed, or None when there is nothing to
        add (the step is a tag, an item index, or no keyword starts so)."""
        head, slash, step = text.rpartition("/")
        word = step.lstrip()
        if not word or "[" in word or "(" in word or not word[0].isalpha():
            return None
        prefix = word.casefold()
        pools: list[list[tuple[str, str]]] = []
        if slash:
            here = self._in_item(head)
            if here is not None:
                pools.append(here)
        else:
            pools.append(self._in_file)
        pools.append(self._dictionary)
        for pool in pools:
            found = _first_match(pool, prefix)
            if found is not None:
                return text[: len(text) - len(word)] + found
        return None
