"""A selection taken out of the viewer: as text for the clipboard (hex, base64, a C or Python
array, the decoded value) or as a file.

The clipboard is the terminal's (OSC 52): many terminals drop a sequence over about 100 KB,
and a screenful of base64 is no use pasted anywhere, so copies stop at :data:`COPY_LIMIT`;
bigger selections are saved. Files are written a MiB at a time from ``pread``, so saving a
500 MB frame holds a MiB, not the frame.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dcmstruct.tui.decode import decode
from dcmstruct.tui.selection import Selection
from dcmstruct.tui.structure import Structure

COPY_LIMIT = 64 << 10  # bytes a copy may hold
_PER_LINE = 16  # values a line of a C or Python array


def as_hex(data: bytes) -> str:
    return data.hex(" ")


def as_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def as_c_array(data: bytes, name: str = "data") -> str:
    lines = [
        "    " + ", ".join(f"0x{b:02x}" for b in data[i : i + _PER_LINE]) + ","
        for i in range(0, len(data), _PER_LINE)
    ]
    return "\n".join([f"static const unsigned char {name}[{len(data)}] = {{", *lines, "};"])


def as_python(data: bytes, name: str = "data") -> str:
    # One bytes literal per line keeps it diffable and pastes into any editor.
    lines = [f"    {data[i : i + _PER_LINE]!r}" for i in range(0, len(data), _PER_LINE)]
    if not lines:
        return f"{name} = b''"
    return "\n".join([f"{name} = (", *lines, ")"])


@dataclass(frozen=True, slots=True)
class Format:
    key: str  # the key that picks it in the dialog
    name: str
    convert: Callable[[bytes], str]


FORMATS = (
    Format("h", "hex", as_hex),
    Format("b", "base64", as_base64),
    Format("c", "C array", as_c_array),
    Format("p", "Python bytes", as_python),
)


def decoded_value(structure: Structure, selection: Selection) -> str | None:
    """The value as the inspector decodes it (values split by backslash), when the selection
    is one element's value; None otherwise or when it decodes to bytes only."""
    node = selection.node
    if node < 0 or structure.hidden(node):
        return None
    c = structure.index.columns
    if (int(c.value_offset[node]), int(c.end[node])) != (selection.start, selection.end):
        return None  # not this node's value (an index built since): no text for it
    lines = decode(structure, node)
    values = [line.text for line in lines if line.label == "Value" or line.label.startswith("[")]
    if not values or any(line.label == "…" for line in lines):
        return None  # bytes, a sequence, or more than the inspector reads: no exact text
    return "\\".join(values)


def refusal(structure: Structure, selection: Selection, limit: int | None) -> str | None:
    """Why the selection may not leave the viewer (None: it may)."""
    if selection.hides(structure):
        return "the selection holds masked bytes: m turns the mask off"
    if limit is not None and selection.size > limit:
        return f"{selection.size:,} bytes is too much for the clipboard: x saves it to a file"
    return None


def default_name(path: str, selection: Selection) -> str:
    stem = Path(path).name
    return f"{stem}.{selection.unit.value}-{selection.start:x}-{selection.end:x}.bin"


def save(structure: Structure, selection: Selection, target: str) -> int:
    """Write the selection's content to a new file ``target``; the bytes written. Never
    replaces a file. Raises OSError (the file exists, or cannot be written)."""
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        for chunk in selection.chunks(structure):
            out.write(chunk)
            written += len(chunk)
    return written
