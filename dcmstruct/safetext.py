"""Strings from a file or a file name, made safe for a terminal and for one-line formats.

A DICOM value, a VR, a UID or a path name may hold any byte. Written raw to a terminal, an
``ESC ] 0 ;`` retitles it, ``ESC c`` resets it, a newline splits a one-line report, and a
bidirectional override makes a line read differently from what it holds. Every text report,
``dump``, ``rule`` and the TUI pass such strings through :func:`terminal_safe` first, so a
control character is shown as a visible escape (``\\x1b``) and never emitted.

JSON, SARIF and JUnit writers escape control characters themselves; they only need
:func:`clean` for lone surrogates (an undecodable byte of a file name).
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls; the Unicode line and paragraph separators; the bidirectional
# embeddings, overrides and isolates (Trojan Source, CVE-2021-42574); zero-width and BOM
# characters that hide text; and lone surrogates (undecodable bytes of a file name).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte is code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control, separator, bidi or invisible character shown as an escape.

    >>> terminal_safe("1.2.840\\x1b]0;HACKED\\x07")
    '1.2.840\\\\x1b]0;HACKED\\\\x07'
    >>> terminal_safe("two\\nlines")
    'two\\\\nlines'
    """
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_named, text)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _named(m: re.Match[str]) -> str:
    char = m.group()
    return _NAMED.get(char) or _escape(char)


def safe_bytes(raw: bytes) -> str:
    """Bytes from a file (a VR, a UID, a value) as safe text: latin-1, then escaped."""
    return terminal_safe(raw.decode("latin-1"))


def clean(text: str) -> str:
    """``text`` with lone surrogates written as ``\\xNN`` (a file name's raw byte); for formats
    that escape control characters themselves (JSON, SARIF, JUnit)."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(lambda m: _escape(m.group()), text)
