"""Corpus helpers for the agreement test against dicom3tools' ``dcdump -v``.

The corpus is every DICOM candidate file of

* pydicom's own test set: ``pydicom/data/test_files/**`` (located through
  ``pydicom.data``; pydicom is a test dependency only), and
* pydicom-data: the ``data_store/data`` folder of the ``pydicom-data``
  distribution (located through ``importlib.util.find_spec("data_store")``).

What is skipped, and why (decided by looking at what those folders hold):

* directories, symlinks to directories, and empty (size 0) files;
* ``*.txt`` (``README.txt`` files), ``*.json`` (pydicom JSON-model fixtures
  ``test1.json``, ``test_PN.json``), ``*.dump`` (pydicom's text dumps of
  ``rtplan.dcm``/``rtstruct.dcm``), ``*.gz`` (``zipMR.gz``: a gzipped DICOM
  file, not DICOM itself), ``*.icc`` (``crayons.icc``: an ICC colour profile),
  plus the other obvious non-DICOM suffixes (.py, .pyc, .bz2, .zip, .xml,
  .pdf, .jpg, .jpeg, .j2k, .jp2, .png, .md, .md5, .rst, .csv, .html, .sh);
* files called ``README``/``README.*``/``LICENSE*`` whatever their suffix
  (``dicomdirtests/TINY_ALPHA/README`` has none);
* ``__pycache__`` folders.

This matters: dcdump "reads" several of these without any error (README.txt,
the JSON and .dump files come out as one bogus UN element at offset 0 and
exit status 0), so the filter, not dcdump, has to keep them out. Files with no
suffix (the DICOMDIR variants and the ``dicomdirtests`` images) are DICOM and
are kept, as are files without preamble/meta (``ExplVR_*NoMeta.dcm``,
``no_meta*.dcm``).

"dcdump reads the file without error" is defined as all of:

1. ``dcdump -v`` exits with status 0 within the timeout (it is killed by
   SIGABRT on an internal ``Assertion ... failed`` for 32-bit pixel data);
2. the read phase ran to its end: the ``******** As read ... ********``
   banner is present;
3. no diagnostic line of the read phase carries dicom3tools' error prefix
   ``Error - `` (its EMsgDC prefix; warnings are ``Warning - `` and do not
   exclude a file). Status 0 alone is not enough: e.g. ``nested_priv_SQ.dcm``
   stops at "Error - Tags out of order" with status 0. Element lines are not
   searched, so a keyword such as "Z tracking Error" does not count.

Shape of ``dcdump -v`` output (all of it on stderr): a ``While reading``
section with one line per node read, ``@0xABSOLUTE,0xRELATIVE of 0xLENGTH:
(0xgggg,0xeeee) VR Name \\t VR=<..>  VL=<..> value``, then the diagnostics,
then an ``As read`` re-listing that shows only elements (no items).
The absolute offset is the stream position (``tellg()``) where the tag starts.
Peculiarities handled here:

* item delimitation items (FFFE,E00D) are read but never described: dcdump
  prints the ``@...:`` prefix and then nothing, so the next prefix (for the
  next item or the sequence delimiter) follows on the same line. Such bare
  prefixes are kept; they are labelled FFFE,E00D (or FFFE,E000 for the
  "item inside item" case) only when the four bytes at that offset are that
  tag, otherwise they are kept untagged and any dcmstruct node at that offset
  satisfies them;
* sequence delimitation items (FFFE,E0DD) are printed with their tag, both
  after sequences and after encapsulated pixel data;
* encapsulated pixel data: the element's prefix is printed first, then one
  line per fragment (``(0xfffe,0xe000)``, including the basic offset table)
  and the sequence delimiter, and only then a prefix-less line
  ``(0x7fe0,0x0010) OX Pixel Data \\t VR=<OB> VL=<...>`` describing the
  element. That late description is attached to the most recent bare prefix;
* the ``As read`` re-listing (``@0xOFFSET: (tag) ...``, nested lines prefixed
  with ``>``) is checked to report nothing the read phase did not; its
  ``@0xffffffff`` lines are attributes dcdump rebuilt after reading (XS
  descriptors resolved to US/SS) and carry no offset;
* deflated transfer syntax (1.2.840.10008.1.2.1.99): the dcdump packaged by
  Debian 12 (dicom3tools 1.00~20220618) has no zlib support and fails on the deflated
  bytes ("Error - Tag read failed"), so such files leave the agreement set.
  Should a dcdump read one without error, the data-set offsets are mapped to
  the inflated stream (offset 0 = first byte after the file meta group),
  accepting dcdump offsets that either start at 0 or continue from the end of
  the meta group; anything else is reported as an anomaly, which fails.

Running ``python tests/corpus.py`` prints the agreement figure (needs
``dcmstruct dump --format jsonl``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Stream = Literal["file", "inflated"]
How = Literal["element", "deferred", "bare"]

DCDUMP_TIMEOUT = 120.0
DCMSTRUCT_TIMEOUT = 600.0
DEFLATED_TS = "1.2.840.10008.1.2.1.99"

#: Default on-disk cache of raw dcdump output: pytest's own cache folder
#: (``.pytest_cache`` is git-ignored), under the same ``d/<name>`` layout that
#: ``config.cache.mkdir()`` uses.
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / ".pytest_cache" / "d" / "dcdump"

SKIP_SUFFIXES = frozenset(
    {
        ".py",
        ".pyc",
        ".txt",
        ".json",
        ".dump",
        ".gz",
        ".bz2",
        ".zip",
        ".xml",
        ".pdf",
        ".jpg",
        ".jpeg",
        ".j2k",
        ".jp2",
        ".png",
        ".icc",
        ".md",
        ".md5",
        ".rst",
        ".csv",
        ".html",
        ".sh",
    }
)
SKIP_NAME_RE = re.compile(r"^(README|LICEN[CS]E|COPYING)(\..*)?$", re.IGNORECASE)

READ_BANNER_RE = re.compile(r"^\*{8} While reading .*\*{8}$")
VL_RE = re.compile(r"VL=<0x([0-9a-fA-F]+)>")
AS_READ_BANNER_RE = re.compile(r"^\*{8} As read .*\*{8}$")
PREFIX_RE = re.compile(r"@0x([0-9a-f]{8,}),0x([0-9a-f]{8}) of 0x([0-9a-f]{8}): ")
DESCRIPTION_RE = re.compile(r"^\(0x([0-9a-f]{4}),0x([0-9a-f]{4})\) .*\t VR=<[A-Za-z]*> +VL=<0x")
AS_READ_RE = re.compile(r"^[ >]*@0x([0-9a-f]{8,}): \(0x([0-9a-f]{4}),0x([0-9a-f]{4})\) ")
ERROR_MARKER = "Error - "
ASSERTION_RE = re.compile(r"Assertion .* failed")

ITEM_DELIMITER_BYTES = {b"\xfe\xff\x0d\xe0", b"\xff\xfe\xe0\x0d"}
ITEM_BYTES = {b"\xfe\xff\x00\xe0", b"\xff\xfe\xe0\x00"}


class DcmstructDumpError(RuntimeError):
    """``dcmstruct dump --format jsonl`` produced no usable output."""


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    source: str  # "pydicom" or "pydicom-data"
    relative: str  # path relative to its source root, with "/" separators

    @property
    def id(self) -> str:
        return f"{self.source}/{self.relative}"


@dataclass(frozen=True)
class DcdumpOffset:
    """One offset reported by ``dcdump -v``."""

    offset: int
    #: ``GGGG,EEEE`` upper-case, or None when dcdump printed a bare offset whose
    #: bytes are not a recognisable item tag (any dcmstruct node there matches).
    tag: str | None
    stream: Stream
    #: element: prefix + description on one line; deferred: description printed
    #: after the fragments (encapsulated pixel data); bare: prefix only.
    how: How
    line: int  # 1-based line number in dcdump's output
    text: str  # the output line (truncated), for messages

    @property
    def key(self) -> tuple[Stream, int, str | None]:
        return (self.stream, self.offset, self.tag)


@dataclass
class DcdumpResult:
    path: Path
    returncode: int | None  # None: timed out
    #: dcdump read the file without error (see the module docstring).
    ok: bool
    #: Why ``ok`` is false: the error marker lines, exit status, timeout ...
    errors: list[str] = field(default_factory=list)
    offsets: list[DcdumpOffset] = field(default_factory=list)
    #: Output this parser could not account for; the agreement test fails on
    #: these rather than silently dropping offsets.
    anomalies: list[str] = field(default_factory=list)
    deflated: bool = False
    #: (offset, tag) pairs of the "As read" re-listing (file/inflated stream as
    #: for ``offsets``); checked to be a subset of ``offsets``.
    as_read: list[tuple[Stream, int, str]] = field(default_factory=list)


@dataclass
class Agreement:
    file: CorpusFile
    compared: int
    missing: list[DcdumpOffset]
    problem: str | None = None  # dcmstruct failed, anomalies, ...
    #: what dcmstruct has at each (stream, offset), for messages
    at: dict[tuple[Stream, int], list[str]] = field(default_factory=dict)

    @property
    def agrees(self) -> bool:
        return not self.missing and self.problem is None


# --------------------------------------------------------------------------
# corpus


def pydicom_test_files_root() -> Path | None:
    spec = importlib.util.find_spec("pydicom.data") if _has_module("pydicom") else None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "test_files"
    return root if root.is_dir() else None


def pydicom_data_root() -> Path | None:
    """``data_store/data`` of pydicom-data (its import name is ``data_store``)."""
    spec = importlib.util.find_spec("data_store")
    if spec is None:
        return None
    for location in spec.submodule_search_locations or []:
        root = Path(location) / "data"
        if root.is_dir():
            return root
    return None


def corpus_roots() -> dict[str, Path | None]:
    return {"pydicom": pydicom_test_files_root(), "pydicom-data": pydicom_data_root()}


def is_dicom_candidate(path: Path) -> bool:
    if not path.is_file() or "__pycache__" in path.parts:
        return False
    if path.suffix.lower() in SKIP_SUFFIXES or SKIP_NAME_RE.match(path.name):
        return False
    return path.stat().st_size > 0


def corpus_entries() -> list[CorpusFile]:
    entries: list[CorpusFile] = []
    for source, root in corpus_roots().items():
        if root is None:
            continue
        for path in sorted(root.rglob("*")):
            if is_dicom_candidate(path):
                entries.append(CorpusFile(path, source, path.relative_to(root).as_posix()))
    return entries


def corpus_files() -> list[Path]:
    """Every DICOM candidate of pydicom's and pydicom-data's test sets."""
    return [entry.path for entry in corpus_entries()]


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# --------------------------------------------------------------------------
# running dcdump


def dcdump_path() -> str | None:
    return shutil.which("dcdump")


def _cache_key(path: Path, dcdump: str) -> str:
    st = path.stat()
    tool = Path(dcdump).resolve()
    tool_st = tool.stat()
    material = "\0".join(
        [
            str(path.resolve()),
            str(st.st_mtime_ns),
            str(st.st_size),
            str(tool),
            str(tool_st.st_mtime_ns),
            str(tool_st.st_size),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _run_dcdump_raw(path: Path, dcdump: str, cache_dir: Path | None) -> tuple[int | None, str, str]:
    """(returncode or None on timeout, stderr, stdout), decoded as latin-1."""
    cache_file = cache_dir / f"{_cache_key(path, dcdump)}.json" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            cached = json.loads(cache_file.read_text())
            return cached["returncode"], cached["stderr"], cached["stdout"]
        except (ValueError, KeyError, OSError):
            pass
    env = dict(os.environ, LC_ALL="C")
    try:
        proc = subprocess.run(
            [dcdump, "-v", str(path.resolve())],
            capture_output=True,
            timeout=DCDUMP_TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (exc.stderr or b"").decode("latin-1")
        stdout = (exc.stdout or b"").decode("latin-1")
        return None, stderr, stdout  # a timeout is not cached
    result = (proc.returncode, proc.stderr.decode("latin-1"), proc.stdout.decode("latin-1"))
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
            payload = {"returncode": result[0], "stderr": result[1], "stdout": result[2]}
            tmp.write_text(json.dumps(payload))
            os.replace(tmp, cache_file)
        except OSError:
            pass
    return result


def run_dcdump(path: Path, cache_dir: Path | None = None) -> DcdumpResult | None:
    """Run ``dcdump -v path`` and parse it; None when dcdump is not installed.

    Whether dcdump read the file without error is ``result.ok``; only such
    results belong to the agreement set.
    """
    dcdump = dcdump_path()
    if dcdump is None:
        return None
    returncode, stderr, stdout = _run_dcdump_raw(path, dcdump, cache_dir)
    return parse_dcdump(path, returncode, stderr, stdout)


# --------------------------------------------------------------------------
# parsing dcdump -v


def _tag(group: str, element: str) -> str:
    return f"{group.upper()},{element.upper()}"


def _meta_info(data: bytes) -> tuple[int | None, str | None]:
    """(end of the file meta group, transfer syntax UID) read from the file.

    Only used for deflated files (to map offsets to the inflated stream) and
    for labelling bare offsets; a tiny explicit-VR-little-endian walk.
    """
    if data[128:132] != b"DICM":
        return None, None
    pos, ts = 132, None
    while pos + 8 <= len(data):
        group = int.from_bytes(data[pos : pos + 2], "little")
        if group != 0x0002:
            break
        element = int.from_bytes(data[pos + 2 : pos + 4], "little")
        vr = data[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"OV", b"UC", b"UR"):
            length = int.from_bytes(data[pos + 8 : pos + 12], "little")
            header = 12
        else:
            length = int.from_bytes(data[pos + 6 : pos + 8], "little")
            header = 8
        if length == 0xFFFFFFFF:
            return None, ts
        if element == 0x0010:
            raw = data[pos + header : pos + header + length]
            ts = raw.rstrip(b"\x00 ").decode("ascii", "replace")
        pos += header + length
    return pos, ts


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(data)
    except zlib.error:
        return b""


def parse_dcdump(path: Path, returncode: int | None, stderr: str, stdout: str = "") -> DcdumpResult:
    """Parse ``dcdump -v`` output (see the module docstring for its shape)."""
    result = DcdumpResult(path=path, returncode=returncode, ok=True)

    lines = stderr.split("\n")
    start = next((i for i, line in enumerate(lines) if READ_BANNER_RE.match(line)), None)
    end = next((i for i, line in enumerate(lines) if AS_READ_BANNER_RE.match(line)), None)
    late_errors = []
    if start is None:
        late_errors.append("no '******** While reading ... ********' banner")
        start = -1
    if end is None:
        late_errors.append("read phase did not finish (no '******** As read ... ********')")
        end = len(lines)

    raw: list[tuple[int, str | None, How, int, str]] = []  # offset, tag, how, line, text
    pending: list[int] = []  # indexes into raw of bare prefixes
    for index in range(start + 1, end):
        line = lines[index]
        lineno = index + 1
        text = line[:160]
        if line.startswith("\t"):
            continue  # continuation of a long value
        prefixes = []
        pos = 0
        while match := PREFIX_RE.match(line, pos):
            prefixes.append(match)
            pos = match.end()
        rest = line[pos:]
        if prefixes:
            for match in prefixes[:-1]:
                pending.append(len(raw))
                raw.append((int(match.group(1), 16), None, "bare", lineno, text))
            last = prefixes[-1]
            described = DESCRIPTION_RE.match(rest)
            if described:
                tag = _tag(described.group(1), described.group(2))
                raw.append((int(last.group(1), 16), tag, "element", lineno, text))
            else:
                pending.append(len(raw))
                raw.append((int(last.group(1), 16), None, "bare", lineno, text))
                if rest.strip():
                    _diagnostic(result, rest, lineno)
            continue
        described = DESCRIPTION_RE.match(line)
        if described:
            tag = _tag(described.group(1), described.group(2))
            if pending:
                i = pending.pop()
                offset, _, _, _, first_text = raw[i]
                raw[i] = (offset, tag, "deferred", lineno, f"{first_text} ... {text}")
            else:
                result.anomalies.append(f"line {lineno}: description without an offset: {text}")
            continue
        if line.strip():
            _diagnostic(result, line, lineno)
    for lineno, line in enumerate(stdout.split("\n"), 1):  # dcdump writes nothing there
        if ERROR_MARKER in line:
            result.errors.append(f"stdout line {lineno}: {line[:200]}")

    # label bare prefixes and map deflated offsets
    try:
        data = path.read_bytes()
    except OSError:
        data = b""
    meta_end, transfer_syntax = _meta_info(data)
    result.deflated = transfer_syntax == DEFLATED_TS
    inflated = _inflate(data[meta_end:]) if result.deflated and meta_end else b""
    shift: int | None = 0
    if result.deflated:
        first_dataset = next(
            (o for o, tag, *_ in raw if tag is not None and not tag.startswith("0002,")), None
        )
        if first_dataset in (0, None):
            shift = 0
        elif first_dataset == meta_end:
            shift = meta_end
        else:
            shift = None
            result.anomalies.append(
                f"deflated file: first data-set offset 0x{first_dataset:x} is neither 0 "
                f"nor the end of the meta group (0x{meta_end or 0:x})"
            )
    seen_dataset = False
    for offset, label, how, lineno, text in raw:
        stream: Stream = "file"
        in_meta = label is not None and label.startswith("0002,")
        if result.deflated and (seen_dataset or (label is not None and not in_meta)):
            seen_dataset = True
            stream = "inflated"
            offset -= shift or 0
        if label is None:
            buf = inflated if stream == "inflated" else data
            head = buf[offset : offset + 4]
            if head in ITEM_DELIMITER_BYTES:
                label = "FFFE,E00D"
            elif head in ITEM_BYTES:
                label = "FFFE,E000"
        result.offsets.append(DcdumpOffset(offset, label, stream, how, lineno, text))

    # the "As read" re-listing must not report anything the read phase did not
    reported = {(o.stream, o.offset, o.tag) for o in result.offsets}
    for index in range(end + 1, len(lines)):
        match = AS_READ_RE.match(lines[index])
        if not match:
            continue
        offset, tag = int(match.group(1), 16), _tag(match.group(2), match.group(3))
        if offset == 0xFFFFFFFF:
            continue  # attribute dcdump replaced after reading (e.g. XS -> US/SS): no offset
        stream = "file"
        if result.deflated and not tag.startswith("0002,"):
            stream, offset = "inflated", offset - (shift or 0)
        result.as_read.append((stream, offset, tag))
        if (stream, offset, tag) not in reported:
            result.anomalies.append(
                f"line {index + 1}: 'As read' offset not reported while reading: "
                f"{lines[index][:160]}"
            )

    # dcdump does not notice a value that runs past the end of the file: it "reads" it and
    # exits 0 (no_meta.dcm: a 173 MB value in a 38 KB file). Reading past the end is an error.
    if not result.deflated:
        for offset, _label, how, lineno, _text in raw:
            vl = VL_RE.search(lines[lineno - 1])
            defined = how == "element" and vl and vl.group(1).lower() != "ffffffff"
            if defined and vl and offset + 8 + int(vl.group(1), 16) > len(data):
                late_errors.append(
                    f"line {lineno}: value length 0x{vl.group(1)} at 0x{offset:x} runs past "
                    f"the end of the {len(data)}-byte file (dcdump reports no error)"
                )

    # last, so that the first error shown is the most telling one
    result.errors.extend(late_errors)
    if returncode is None:
        result.errors.append(f"timed out after {DCDUMP_TIMEOUT:.0f}s")
    elif returncode < 0:
        result.errors.append(f"killed by signal {-returncode} (exit status {128 - returncode})")
    elif returncode != 0:
        result.errors.append(f"exit status {returncode}")
    result.ok = not result.errors
    return result


def _diagnostic(result: DcdumpResult, text: str, lineno: int) -> None:
    if ERROR_MARKER in text or ASSERTION_RE.search(text):
        result.errors.append(f"line {lineno}: {text.strip()[:200]}")


# --------------------------------------------------------------------------
# running dcmstruct


def dcmstruct_dump(path: Path, *, process: bool = True) -> tuple[list[dict[str, Any]], int, str]:
    """``dcmstruct dump path --format jsonl``: in a process of its own (``process``, the
    command as a user runs it), or in this one through ``dcmstruct.cli.main`` (the same code
    without a Python start-up per file, for the corpus tests).

    Returns (nodes, exit status, stderr). Raises DcmstructDumpError when the
    output has no JSON object at all or a line is not JSON.
    """
    if process:
        proc = subprocess.run(
            [sys.executable, "-m", "dcmstruct", "dump", str(path), "--format", "jsonl"],
            capture_output=True,
            text=True,
            timeout=DCMSTRUCT_TIMEOUT,
            check=False,
        )
        stdout, stderr, returncode = proc.stdout, proc.stderr, proc.returncode
    else:
        stdout, stderr, returncode = _dump_in_process(path)
    nodes: list[dict[str, Any]] = []
    for lineno, line in enumerate(stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            node = json.loads(line)
        except ValueError as exc:
            raise DcmstructDumpError(
                f"line {lineno} of `dcmstruct dump --format jsonl` is not JSON ({exc}): "
                f"{line[:200]!r}; exit status {returncode}; stderr: {_tail(stderr)}"
            ) from None
        if not isinstance(node, dict):
            raise DcmstructDumpError(f"line {lineno} is not a JSON object: {line[:200]!r}")
        nodes.append(node)
    if not nodes:
        raise DcmstructDumpError(
            f"`{sys.executable} -m dcmstruct dump {path} --format jsonl` printed no nodes; "
            f"exit status {returncode}; stderr: {_tail(stderr)}"
        )
    return nodes, returncode, stderr


def _dump_in_process(path: Path) -> tuple[str, str, int]:
    import contextlib
    import io

    from dcmstruct.cli import main as cli_main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["dump", str(path), "--format", "jsonl"])
    return out.getvalue(), err.getvalue(), code


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty)"


def node_keys(
    nodes: Iterable[dict[str, Any]],
) -> tuple[set[tuple[Stream, int, str | None]], dict[tuple[Stream, int], list[str]]]:
    """(stream, offset, tag) of every node, and what sits at each (stream, offset)."""
    keys: set[tuple[Stream, int, str | None]] = set()
    at: dict[tuple[Stream, int], list[str]] = {}
    for node in nodes:
        stream: Stream = "inflated" if node.get("stream") == "inflated" else "file"
        offset = node.get("offset")
        if not isinstance(offset, int):
            continue
        tag = node.get("tag")
        keys.add((stream, offset, tag if isinstance(tag, str) else None))
        at.setdefault((stream, offset), []).append(f"{node.get('kind')} {tag}")
    return keys, at


def compare(
    result: DcdumpResult, nodes: Sequence[dict[str, Any]]
) -> tuple[list[DcdumpOffset], dict[tuple[Stream, int], list[str]]]:
    """dcdump offsets missing from dcmstruct's nodes (tag must match)."""
    keys, at = node_keys(nodes)
    missing = [
        o
        for o in result.offsets
        if (o.tag is None and (o.stream, o.offset) not in at)
        or (o.tag is not None and o.key not in keys)
    ]
    return missing, at


def describe_missing(
    missing: Sequence[DcdumpOffset], at: dict[tuple[Stream, int], list[str]], limit: int = 15
) -> str:
    out = []
    for o in missing[:limit]:
        there = at.get((o.stream, o.offset))
        have = f"dcmstruct has {', '.join(there)}" if there else "dcmstruct has no node there"
        stream = "" if o.stream == "file" else f" [{o.stream}]"
        out.append(
            f"  0x{o.offset:08x}{stream} {o.tag or '(untagged)'} ({o.how}, dcdump line "
            f"{o.line}): {have}\n      {o.text.strip()}"
        )
    if len(missing) > limit:
        out.append(f"  ... and {len(missing) - limit} more")
    return "\n".join(out)


def agreement_set(cache_dir: Path | None = DEFAULT_CACHE_DIR) -> list[CorpusFile]:
    """Corpus files that dcdump reads without error (empty without dcdump)."""
    if dcdump_path() is None:
        return []
    results = dcdump_corpus(cache_dir)
    return [entry for entry, result in results if result is not None and result.ok]


def dcdump_corpus(
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
) -> list[tuple[CorpusFile, DcdumpResult | None]]:
    entries = corpus_entries()
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda e: run_dcdump(e.path, cache_dir), entries))
    return list(zip(entries, results, strict=True))


def check_file(entry: CorpusFile, result: DcdumpResult) -> Agreement:
    if result.anomalies:
        return Agreement(
            entry, 0, [], "dcdump output not understood: " + "; ".join(result.anomalies)
        )
    try:
        nodes, status, stderr = dcmstruct_dump(entry.path)
    except (DcmstructDumpError, subprocess.TimeoutExpired) as exc:
        return Agreement(entry, 0, [], str(exc))
    missing, at = compare(result, nodes)
    problem = None
    if missing and status != 0:
        problem = f"dcmstruct dump exit status {status}; stderr: {_tail(stderr)}"
    return Agreement(entry, len(result.offsets), missing, problem, at)


# --------------------------------------------------------------------------
# python tests/corpus.py


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-cache", action="store_true", help="do not cache dcdump output")
    parser.add_argument("--details", type=int, default=5, help="missing offsets shown per file")
    args = parser.parse_args(argv)

    if dcdump_path() is None:
        print("dcdump (dicom3tools) is not on PATH; install dicom3tools", file=sys.stderr)
        return 2
    roots = corpus_roots()
    for source, root in roots.items():
        print(f"{source:13} {root if root else 'NOT INSTALLED'}")
    cache_dir = None if args.no_cache else DEFAULT_CACHE_DIR
    results = dcdump_corpus(cache_dir)
    by_source: dict[str, int] = {}
    for entry, _ in results:
        by_source[entry.source] = by_source.get(entry.source, 0) + 1
    readable = [(e, r) for e, r in results if r is not None and r.ok]
    print(
        f"corpus files: {len(results)} "
        f"({', '.join(f'{k} {v}' for k, v in by_source.items())}); "
        f"read by dcdump without error: {len(readable)}"
    )
    for entry, result in results:
        if result is not None and not result.ok:
            print(f"  excluded {entry.id}: {result.errors[0]}")

    if not readable:
        return 1
    try:
        dcmstruct_dump(readable[0][0].path)
    except (DcmstructDumpError, subprocess.TimeoutExpired) as exc:
        print(f"\n`dcmstruct dump --format jsonl` is not usable yet:\n  {exc}", file=sys.stderr)
        return 2

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        agreements = list(pool.map(lambda er: check_file(*er), readable))
    compared = sum(a.compared for a in agreements)
    missing = sum(len(a.missing) for a in agreements)
    agreeing = sum(a.agrees for a in agreements)
    for a in agreements:
        if a.agrees:
            continue
        print(f"\nDISAGREE {a.file.id}: {len(a.missing)} of {a.compared} dcdump offsets missing")
        if a.problem:
            print(f"  {a.problem}")
        if a.missing:
            print(describe_missing(a.missing, a.at, args.details))
    print(
        f"\nagreement: {agreeing}/{len(readable)} files agree with dcdump -v "
        f"({len(results)} corpus files, {len(readable)} read by dcdump without error); "
        f"offsets compared: {compared}, missing: {missing}"
    )
    return 0 if agreeing == len(readable) else 1


if __name__ == "__main__":
    sys.exit(main())
