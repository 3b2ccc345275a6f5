"""Corpus agreement with dicom3tools' ``dcdump -v``.

On every file of the pydicom and pydicom-data test sets that dcdump reads
without error, every element and item offset that ``dcdump -v`` reports must
appear in ``dcmstruct dump --format jsonl`` with the same tag (nodes inside a
deflated data set are matched on their inflated-stream offsets). What "reads
without error" means and how dcdump's output is interpreted is documented in
``tests/corpus.py``; ``python tests/corpus.py`` prints the overall figure.

Without dcdump the tests skip, except when ``CI`` is set: then they fail, so
CI cannot pass by skipping.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pydicom")

try:
    from tests import corpus
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    import corpus  # type: ignore[no-redef,import-not-found]

IN_CI = bool(os.environ.get("CI"))


def _require_dcdump() -> None:
    if corpus.dcdump_path() is None:
        message = "dcdump (dicom3tools) is not installed"
        if IN_CI:
            pytest.fail(f"{message}, but CI is set: install dicom3tools in .ci/run")
        pytest.skip(message)


def _params() -> list[object]:
    if corpus.dcdump_path() is None:
        return [pytest.param(None, id="dcdump-missing")]
    return [pytest.param(entry, id=entry.id) for entry in corpus.agreement_set()]


@pytest.mark.parametrize("entry", _params())
def test_dcdump_offsets_in_dcmstruct_dump(entry: corpus.CorpusFile | None) -> None:
    _require_dcdump()
    assert entry is not None
    result = corpus.run_dcdump(entry.path, corpus.DEFAULT_CACHE_DIR)
    assert result is not None and result.ok, f"dcdump no longer reads {entry.id} cleanly"
    assert not result.anomalies, "dcdump -v output not understood:\n" + "\n".join(result.anomalies)

    # In this process: the command's own code, without a Python start-up per file (the
    # command as a process is tested once, below).
    nodes, status, stderr = corpus.dcmstruct_dump(entry.path, process=False)
    missing, at = corpus.compare(result, nodes)
    if missing:
        streams = {o.stream for o in result.offsets}
        note = " (offsets of deflated data sets are inflated-stream offsets)" * (
            "inflated" in streams
        )
        dcmstruct_status = "" if status == 0 else f"\ndcmstruct exit status {status}: {stderr}"
        pytest.fail(
            f"{len(missing)} of {len(result.offsets)} offsets reported by `dcdump -v` "
            f"are missing from `dcmstruct dump --format jsonl` for {entry.id}{note}; "
            f"first missing:\n{corpus.describe_missing(missing, at)}{dcmstruct_status}",
            pytrace=False,
        )


def test_the_dump_command_itself_agrees_with_dcdump() -> None:
    _require_dcdump()
    entries = corpus.agreement_set()
    if not entries:
        pytest.skip("no corpus")
    entry = entries[0]
    result = corpus.run_dcdump(entry.path, corpus.DEFAULT_CACHE_DIR)
    assert result is not None and result.ok
    nodes, status, _ = corpus.dcmstruct_dump(entry.path, process=True)
    missing, _ = corpus.compare(result, nodes)
    assert status == 0 and not missing


def test_corpus_is_complete() -> None:
    """Both test sets are installed (a missing one would shrink the corpus silently)."""
    missing = [source for source, root in corpus.corpus_roots().items() if root is None]
    if missing:
        message = f"not installed: {', '.join(missing)} (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def test_agreement_set_is_not_empty() -> None:
    _require_dcdump()
    assert corpus.corpus_files(), "no corpus files found"
    assert corpus.agreement_set(), "dcdump reads none of the corpus files without error"
