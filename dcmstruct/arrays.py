"""Small column operations the floors share: distinct values of a column and where each row's
value is among them.

``numpy.unique`` imports ``numpy.ma`` on first use (7 ms, in numpy 2.x): a command that checks
one small file spends a noticeable part of its start-up there. A stable sort does the same job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt


def distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The sorted distinct values of a 1-D integer column."""
    return distinct_inverse(values)[0]


def distinct_inverse(
    values: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The sorted distinct values of a 1-D integer column, and each row's position among them
    (``distinct[inverse] == values``)."""
    if len(values) == 0:
        return values.copy(), np.zeros(0, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.empty(len(values), dtype=np.bool_)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


def first_and_count(
    values: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The sorted distinct values, the row of each one's first occurrence, and how many rows
    hold it."""
    if len(values) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return values.copy(), empty, empty
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(new)
    counts = np.diff(np.r_[starts, len(values)])
    return ordered[new], order[starts], counts


def distinct_pairs_inverse(
    a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]
) -> tuple[list[tuple[int, int]], npt.NDArray[np.int64]]:
    """The distinct (a, b) pairs of two columns, sorted, and each row's position among them."""
    if len(a) == 0:
        return [], np.zeros(0, dtype=np.int64)
    order = np.lexsort((b, a))
    sa, sb = a[order], b[order]
    new = np.r_[True, (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])]
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return list(zip(sa[new].tolist(), sb[new].tolist(), strict=True)), inverse


def member(values: npt.NDArray[Any], allowed: Iterable[int]) -> npt.NDArray[np.bool_]:
    """Which of ``values`` are in ``allowed`` (``numpy.isin``, which sorts through
    ``numpy.unique`` and so imports ``numpy.ma``)."""
    table = np.asarray(sorted(set(allowed)), dtype=np.int64)
    if len(table) == 0:
        return np.zeros(values.shape, dtype=np.bool_)
    at = np.searchsorted(table, values)
    found: npt.NDArray[np.bool_] = table[np.minimum(at, len(table) - 1)] == values
    return found
