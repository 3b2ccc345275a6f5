"""The structural faults the index records while walking, by the rule name that reports them.

A fault code is the name of the validator rule that turns it into a finding (the rule is
declared with ``index_rule`` in ``dcmstruct.validate.rules``). Codes are an enum so the walker
cannot misspell one; a ``StrEnum`` member is its name as a string, so faults compare and
serialise as the rule names they are.
"""

from __future__ import annotations

from enum import StrEnum

from dcmstruct.model import Fault, Stream


class FaultCode(StrEnum):
    PREAMBLE_MISSING = "PREAMBLE_MISSING"
    PREFIX_NOT_DICM = "PREFIX_NOT_DICM"
    FILE_TOO_SHORT = "FILE_TOO_SHORT"
    DATASET_MISSING = "DATASET_MISSING"
    TRAILING_BYTES = "TRAILING_BYTES"
    FILE_TRUNCATED = "FILE_TRUNCATED"
    META_NOT_EXPLICIT_LE = "META_NOT_EXPLICIT_LE"
    TRANSFER_SYNTAX_UNKNOWN = "TRANSFER_SYNTAX_UNKNOWN"
    TRANSFER_SYNTAX_MISMATCH = "TRANSFER_SYNTAX_MISMATCH"
    VALUE_OVERRUNS_PARENT = "VALUE_OVERRUNS_PARENT"
    INVALID_VR = "INVALID_VR"
    LENGTH_FIELD_FORM_WRONG = "LENGTH_FIELD_FORM_WRONG"
    UNDEFINED_LENGTH_NOT_ALLOWED = "UNDEFINED_LENGTH_NOT_ALLOWED"
    UN_UNDEFINED_CONTENT_NOT_IMPLICIT = "UN_UNDEFINED_CONTENT_NOT_IMPLICIT"
    SEQUENCE_DELIMITER_MISSING = "SEQUENCE_DELIMITER_MISSING"
    ITEM_DELIMITER_MISSING = "ITEM_DELIMITER_MISSING"
    DELIMITER_NONZERO_LENGTH = "DELIMITER_NONZERO_LENGTH"
    STRAY_DELIMITER = "STRAY_DELIMITER"
    ITEM_OUTSIDE_SEQUENCE = "ITEM_OUTSIDE_SEQUENCE"
    ITEM_EXPECTED = "ITEM_EXPECTED"
    ITEM_OVERRUNS_SEQUENCE = "ITEM_OVERRUNS_SEQUENCE"
    SEQUENCE_LENGTH_MISMATCH = "SEQUENCE_LENGTH_MISMATCH"
    DELIMITER_IN_DEFINED_LENGTH = "DELIMITER_IN_DEFINED_LENGTH"
    NESTING_TOO_DEEP = "NESTING_TOO_DEEP"
    NODE_LIMIT_EXCEEDED = "NODE_LIMIT_EXCEEDED"
    ENCAPSULATED_NOT_ITEM = "ENCAPSULATED_NOT_ITEM"
    FRAGMENT_UNDEFINED_LENGTH = "FRAGMENT_UNDEFINED_LENGTH"
    DEFLATE_STREAM_INVALID = "DEFLATE_STREAM_INVALID"


# A million stray delimiters are one problem, not a million: past this many faults of one code
# in one file, the rest are counted, not kept (memory stays bounded by the file's size).
FAULTS_PER_CODE = 1000


class FaultLog:
    """The faults of one file, at most :data:`FAULTS_PER_CODE` of each code kept."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.counts: dict[str, int] = {}
        self.first_unlisted: dict[str, tuple[int, Stream]] = {}
        self.cuts: set[tuple[Stream, int]] = set()

    def add(
        self, code: FaultCode, offset: int, length: int, node: int, message: str, stream: Stream
    ) -> None:
        n = self.counts.get(code, 0) + 1
        self.counts[code] = n
        if n <= FAULTS_PER_CODE:
            self.faults.append(Fault(code, offset, length, node, message, stream))
        elif n == FAULTS_PER_CODE + 1:
            self.first_unlisted[code] = (offset, stream)

    def first_cut(self, stream: Stream, limit: int) -> bool:
        """Is this the first thing cut short at ``limit``?

        One truncation or one bad length cuts every open container at the same offset; it is
        one fault, reported where it is first met, not once per nesting level.
        """
        key = (stream, limit)
        if key in self.cuts:
            return False
        self.cuts.add(key)
        return True

    def finish(self) -> list[Fault]:
        """The faults, plus one per code that was cut off saying how many more there were."""
        for code, (offset, stream) in self.first_unlisted.items():
            more = self.counts[code] - FAULTS_PER_CODE
            self.faults.append(
                Fault(
                    code,
                    offset,
                    0,
                    -1,
                    f"{more} more {code} faults from here on are not listed (the first "
                    f"{FAULTS_PER_CODE} are)",
                    stream,
                )
            )
        return self.faults
