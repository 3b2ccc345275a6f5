"""Rule modules, one per family; importing this package registers every rule."""

from dcmstruct.validate.rules import (  # noqa: F401 - imported for their registrations
    container,
    deflate,
    dicomdir,
    encoding,
    meta,
    pixel,
    private,
    sequence,
    values,
)
