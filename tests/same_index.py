"""One comparison of two indexes of the same bytes, for the tests that check a fast path of the
walk against its general methods (tests/test_index_inline.py, tests/test_index_bulk.py)."""

from __future__ import annotations

import numpy as np

from dcmstruct.index import ElementIndex


def assert_same_index(fast: ElementIndex, slow: ElementIndex) -> None:
    """Node for node (every column) and fault for fault; the first difference is named."""
    assert len(fast) == len(slow)
    for name in slow.columns.__dataclass_fields__:
        a, b = getattr(fast.columns, name), getattr(slow.columns, name)
        if not np.array_equal(a, b):
            row = int(np.flatnonzero(a != b)[0])
            raise AssertionError(
                f"{name} differs first at node {row}: {fast.node(row)} vs {slow.node(row)}"
            )
    assert fast.faults == slow.faults
