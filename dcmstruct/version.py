"""The installed version of dcmstruct, looked up only when asked for (reading the package
metadata costs milliseconds that a plain ``validate`` should not pay)."""

from __future__ import annotations

# A source checkout run without installing has no metadata.
UNKNOWN = "0+unknown"


def version() -> str:
    """The version in the installed package's metadata, or ``0+unknown``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("dcmstruct")
    except PackageNotFoundError:
        return UNKNOWN


__all__ = ["UNKNOWN", "version"]
