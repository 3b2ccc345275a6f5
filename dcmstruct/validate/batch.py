"""Many files' element indexes as one table, for the rule screens.

A small file (a 64x64 image: a hundred elements) is indexed in a tenth of a millisecond, but
asking each of some forty rules about it costs a millisecond: each rule's numpy calls cost
microseconds whatever the size of their arrays. So a batch of files is validated as one table:
the files' columns one after the other, with a ``file`` column, and each rule that declares a
*screen* (:func:`dcmstruct.validate.registry.screen`) asks its question once over that table,
answering for each file whether the rule can have a finding there. The rule's exact check then
runs only on the files its screen flags (normally none). A screen is never laxer than its
check: a file it clears is a file where the check finds nothing
(``tests/test_batch_screens.py`` holds every screen to that on every fixture, rule fixture,
corpus file and mutation). Findings, their order and wording are the exact checks' own, so a
file's report is the same whether it was checked alone or in a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from dcmstruct.index import ElementIndex
from dcmstruct.index.table import joined_columns
from dcmstruct.model import UNDEFINED, Kind, Stream

if TYPE_CHECKING:
    import numpy.typing as npt

T = TypeVar("T")

#: Files with more nodes than this are checked alone: screening pays off on small files, and
#: a batch of big ones would hold their tables twice.
BATCH_NODES = 4096
#: A batch holds at most this many nodes (its files' indexes and its own table: about 8 MB).
BATCH_ROWS = 1 << 16


class Batch:
    """The indexes of some files as one table: row ``r`` is node ``r - base[file[r]]`` of file
    ``file[r]``; ``parent`` counts rows of the whole table (-1 stays -1)."""

    def __init__(self, indexes: list[ElementIndex]) -> None:
        self.indexes = indexes
        sizes = np.array([len(ix) for ix in indexes], dtype=np.int64)
        self.base: npt.NDArray[np.int64] = np.concatenate(([0], np.cumsum(sizes)))
        self.file: npt.NDArray[np.int64] = np.repeat(np.arange(len(indexes)), sizes)
        columns = joined_columns([ix.rows for ix in indexes])
        parent = columns.parent.astype(np.int64)
        inside = parent >= 0
        parent[inside] += self.base[self.file[inside]]
        columns.parent = parent  # type: ignore[assignment]  # rebased: int64 here
        self.columns = columns
        self._shared: dict[Callable[[Batch], Any], Any] = {}

    def shared(self, make: Callable[[Batch], T]) -> T:
        """``make(self)``, computed once: what several screens of a family ask. Held by the
        batch, so it goes when the batch goes."""
        if make not in self._shared:
            self._shared[make] = make(self)
        got: T = self._shared[make]
        return got

    def __len__(self) -> int:
        return len(self.indexes)

    def value_bytes(self, row: int, limit: int) -> bytes | None:
        """:meth:`ElementIndex.value_bytes` of the node at ``row``, read with the batch's
        columns (a file's own columns are made only if a check needs them)."""
        c = self.columns
        start = int(c.value_offset[row])
        if start < 0 or int(c.length[row]) == UNDEFINED:
            return None
        index = self.indexes[int(self.file[row])]
        return index.read(Stream(int(c.stream[row])), start, min(limit, int(c.end[row]) - start))

    def files_with(
        self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """Per file: does it hold any of ``rows`` (a mask over the table, or row numbers)?"""
        found = np.zeros(len(self.indexes), dtype=np.bool_)
        picked = self.file[rows]
        found[picked] = True
        return found

    @cached_property
    def elements(self) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = self.columns.kind == Kind.ELEMENT
        return mask

    @cached_property
    def top(self) -> npt.NDArray[np.bool_]:
        """Rows at the top level of their file."""
        return self.columns.parent < 0

    @cached_property
    def dataset_key(self) -> npt.NDArray[np.int64]:
        """Per row, the data set it belongs to, unique over the batch: its parent row (an item
        or a sequence), or ``-1 - 2 * file`` at a file's top level and ``-2 - 2 * file`` in
        its file meta group (group 0002 at the top level)."""
        c = self.columns
        key = c.parent.astype(np.int64).copy()
        top = key < 0
        meta = top & ((c.tag >> 16) == 0x0002)
        key[top] = -1 - 2 * self.file[top]
        key[meta] = -2 - 2 * self.file[meta]
        return key
