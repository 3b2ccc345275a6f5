"""The bundled sample file: a synthetic CT-like image that ships in the wheel."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

SAMPLE_NAME = "sample_ct.dcm"


def sample_path() -> Path:
    """Filesystem path of the bundled sample (the package is installed from a directory)."""
    ref = files("dcmstruct.data") / SAMPLE_NAME
    with as_file(ref) as path:
        return Path(path)
