"""The Part 10 container (PS3.10 7.1): preamble, prefix, file meta group, and the decision of
how the data set after it is encoded."""

from __future__ import annotations

from dcmstruct import specdata
from dcmstruct.index.base import Frame, FrameKind, WalkerBase
from dcmstruct.index.faults import FaultCode
from dcmstruct.index.table import B_TAG, BIG_FIELDS
from dcmstruct.model import NO_TAG, Kind
from dcmstruct.safetext import safe_bytes, terminal_safe
from dcmstruct.schema.layout import (
    ENCODINGS,
    EXPLICIT_BE,
    EXPLICIT_LE,
    HEADER,
    IMPLICIT_LE,
    PREAMBLE_LENGTH,
    PREFIX,
    TRANSFER_SYNTAX_UID,
    Encoding,
    dataset_encoding,
)
from dcmstruct.wording import count

# File signatures of formats that get mistaken for DICOM (a .dcm export that is really a PNG, a
# JSON or a ZIP): naming the format says more than a cascade of structural faults.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip stream"),
    (b"BZh", "a bzip2 stream"),
    (b"\xfd7zXZ\x00", "an xz stream"),
    (b"\x7fELF", "an ELF executable"),
    (b"<?xml", "an XML document"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 file"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
)


def _is_text(head: bytes) -> bool:
    """Do these first bytes of a file read as UTF-8 text (a README, a CSV, a log)?"""
    for cut in range(4):  # the last character may be cut in the middle of its bytes
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(c.isprintable() or c in "\t\r\n" for c in text)
    return False


_META_AT = PREAMBLE_LENGTH + len(PREFIX)  # where the meta group starts (PS3.10 7.1)


class ContainerWalk(WalkerBase):
    """The whole file: container first, then the data set in the encoding it is in."""

    def run(self) -> None:
        size = self.size
        if size == 0:
            self.fault(
                FaultCode.FILE_TOO_SHORT,
                0,
                0,
                -1,
                "the file is empty; expected a 128-byte preamble, 'DICM' and a file meta group",
            )
            return
        pos = self.container_start()
        if pos is None:
            return
        pos = self.walk_meta(pos)
        if pos >= size:
            if pos == size and not self.log.faults:
                self.fault(
                    FaultCode.DATASET_MISSING,
                    pos,
                    0,
                    -1,
                    "no data set follows the file meta group; expected at least one data element",
                )
            return
        self.dataset_offset = pos
        enc = self.choose_encoding(pos)
        if self.ts is not None and self.ts.deflated and enc is not None:
            self.walk_deflated(pos)
            return
        if enc is None:
            enc = EXPLICIT_LE
        self.dataset_encoding = enc
        self.walk_dataset(pos, enc)

    def marker(self, kind: Kind, start: int, end: int) -> None:
        self.t.add(kind, start, end, NO_TAG, 0, False, -2, -1, 0, -1, 0)

    def container_start(self) -> int | None:
        """Preamble and prefix (PS3.10 7.1); returns where the meta group should start."""
        size = self.size
        win = self.win
        if size >= _META_AT and win.get(PREAMBLE_LENGTH, len(PREFIX)) == PREFIX:
            self.marker(Kind.PREAMBLE, 0, PREAMBLE_LENGTH)
            self.marker(Kind.PREFIX, PREAMBLE_LENGTH, _META_AT)
            return _META_AT
        if win.get(0, len(PREFIX)) == PREFIX:
            self.fault(
                FaultCode.PREAMBLE_MISSING, 0, 4, -1, "'DICM' at offset 0: no 128-byte preamble"
            )
            self.marker(Kind.PREFIX, 0, len(PREFIX))
            return len(PREFIX)
        if self.plausible_start(0):
            self.fault(
                FaultCode.PREAMBLE_MISSING,
                0,
                0,
                -1,
                "no preamble and no 'DICM' prefix: the file starts with a bare data set",
            )
            return 0
        if size < _META_AT or not self.plausible_start(_META_AT):
            # Neither a preamble nor a bare data set at 0: a few stray bytes before a data set?
            for start in range(1, min(size - HEADER, PREAMBLE_LENGTH)):
                if self.plausible_start(start):
                    self.fault(
                        FaultCode.PREAMBLE_MISSING,
                        0,
                        start,
                        -1,
                        f"no preamble and no 'DICM' prefix: a bare data set at {start:#x}, "
                        f"after {count(start, 'stray byte')}",
                    )
                    self.trailing(0, start, 0, -1)
                    return start
        if size < _META_AT:
            self.fault(
                FaultCode.FILE_TOO_SHORT,
                0,
                size,
                -1,
                f"{count(size, 'byte')} cannot hold a 128-byte preamble, 'DICM' and a meta group"
                + self.not_dicom_hint(),
            )
            self.trailing(0, size, 0, -1)
            return None
        got = safe_bytes(win.get(PREAMBLE_LENGTH, len(PREFIX)))
        if not self.plausible_start(_META_AT):
            # No prefix and no element where the meta group belongs: not a damaged DICOM file
            # but another kind of file. Said once; its bytes are one unparsed run, not faults.
            self.fault(
                FaultCode.PREFIX_NOT_DICM,
                PREAMBLE_LENGTH,
                4,
                -1,
                f"this is not a DICOM file{self.not_dicom_hint()}: bytes 128-131 are '{got}', "
                "not 'DICM', and no data element follows them",
            )
            self.trailing(0, size, 0, -1)
            return None
        self.fault(
            FaultCode.PREFIX_NOT_DICM,
            PREAMBLE_LENGTH,
            4,
            -1,
            f"bytes 128-131 are '{got}', expected 'DICM'; a file meta group follows them",
        )
        self.marker(Kind.PREAMBLE, 0, PREAMBLE_LENGTH)
        self.marker(Kind.PREFIX, PREAMBLE_LENGTH, _META_AT)
        return _META_AT

    def not_dicom_hint(self) -> str:
        head = self.win.get(0, 16)
        for magic, name in _SIGNATURES:
            if head.startswith(magic):
                return f" (it starts like {name})"
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if text[:1] in (b"{", b"["):
            return " (it starts like JSON)"
        if _is_text(self.win.get(0, 64)):
            return " (it starts like text)"
        return ""

    def plausible_start(self, pos: int) -> bool:
        """Do the bytes at ``pos`` look like the first element of a meta group or data set?"""
        if pos + HEADER > self.size:
            return False
        b0, b1 = self.win.byte(pos), self.win.byte(pos + 1)
        group_le = b0 | b1 << 8
        group_be = b0 << 8 | b1
        return (group_le in (0x0002, 0x0008) or group_be == 0x0008) and any(
            self.header_fits(pos, enc, self.size) for enc in ENCODINGS
        )

    def walk_meta(self, pos: int) -> int:
        """The file meta group (PS3.10 7.1): group 0002, Explicit VR Little Endian."""
        size = self.size
        if pos + HEADER > size:
            if pos < size:
                self.fault(
                    FaultCode.FILE_TRUNCATED,
                    pos,
                    size - pos,
                    -1,
                    f"the file ends {count(size - pos, 'byte')} into the file meta group",
                )
                self.trailing(pos, size, 0, -1)
            else:
                self.fault(FaultCode.DATASET_MISSING, pos, 0, -1, "the file ends after the prefix")
            return size
        enc = EXPLICIT_LE
        b0, b1 = self.win.byte(pos), self.win.byte(pos + 1)
        group = b0 | b1 << 8
        if group == 0x0200 and self.header_fits(pos, EXPLICIT_BE, size):
            # PS3.10 7.1: the meta group is always little endian; a big endian writer that
            # encoded it in its own byte order makes every length in it 256 or more times off.
            enc = EXPLICIT_BE
            self.fault(
                FaultCode.META_NOT_EXPLICIT_LE,
                pos,
                8,
                -1,
                "the file meta group is encoded Explicit VR Big Endian, PS3.10 requires "
                "Explicit VR Little Endian; read as big endian",
            )
            group = 0x0002
        elif (
            group == 0x0002
            and not self.header_fits(pos, EXPLICIT_LE, size)
            and self.header_fits(pos, IMPLICIT_LE, size)
        ):
            enc = IMPLICIT_LE
            self.fault(
                FaultCode.META_NOT_EXPLICIT_LE,
                pos,
                8,
                -1,
                "the file meta group is encoded Implicit VR Little Endian, "
                "PS3.10 requires Explicit VR Little Endian",
            )
        if group != 0x0002:
            return pos
        pos = self.walk(pos, [Frame(FrameKind.META, -1, size, False, enc, 0)])
        self.read_transfer_syntax()
        return pos

    def read_transfer_syntax(self) -> None:
        t = self.t
        # The tag column of the rows so far (the meta group's): one slice, not a call a row.
        for i, tag in enumerate(t.big[B_TAG::BIG_FIELDS]):
            if tag == TRANSFER_SYNTAX_UID and t.length(i) >= 0:
                value_offset, end = t.value_offset(i), t.end(i)
                raw = self.win.get(value_offset, min(end - value_offset, 1024))
                self.ts_uid = raw.rstrip(b"\0 ").decode("ascii", "replace")
                self.ts = specdata.transfer_syntax(self.ts_uid)
                cut = end - value_offset < t.length(i)  # FILE_TRUNCATED says it already
                # An empty (or all padding) UID names nothing at all: META_REQUIRED_MISSING
                # says so, and one fault is enough.
                empty = not raw.strip(b"\0 ")
                if self.ts is None and not cut and not empty:
                    self.fault(
                        FaultCode.TRANSFER_SYNTAX_UNKNOWN,
                        value_offset,
                        end - value_offset,
                        i,
                        f"(0002,0010) '{terminal_safe(self.ts_uid)}' names no known transfer "
                        "syntax; the encoding was detected from the data set",
                    )
                return

    def choose_encoding(self, pos: int) -> Encoding | None:
        """The encoding of the data set: what (0002,0010) names, unless the bytes disagree."""
        ts = self.ts
        if ts is not None and ts.deflated:
            return EXPLICIT_LE
        declared = dataset_encoding(ts)
        detected = self.detect(pos, self.size)
        if declared is None:
            return detected or EXPLICIT_LE
        if (
            detected is not None
            and detected is not declared
            and not self.header_fits(pos, declared, self.size)
        ):
            self.fault(
                FaultCode.TRANSFER_SYNTAX_MISMATCH,
                pos,
                8,
                -1,
                f"(0002,0010) is {ts.name if ts else '?'}, so the data set should be "
                f"{declared.name}, but it is encoded {detected.name}; read as {detected.name}",
            )
            return detected
        return declared
