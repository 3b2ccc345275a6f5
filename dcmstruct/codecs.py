"""Decoding a compressed frame, when the optional ``codecs`` extra is installed (imagecodecs,
BSD licensed: libjpeg-turbo for JPEG baseline and extended, its lossless JPEG decoders, CharLS
for JPEG-LS, OpenJPEG for JPEG 2000). The base install decodes nothing: :func:`decoder`
says so, and the viewer shows the fragment structure alone.

Nothing here bounds the work: the caller checks the frame's size (from its own marker
segments, :mod:`dcmstruct.codestream`) before it asks for a decode.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

import numpy as np
import numpy.typing as npt

from dcmstruct.codestream import JPEG, JPEG_2000, JPEG_LS

INSTALL = "install 'dcmstruct[codecs]' to see it decoded"

Decoder = Callable[[bytes], npt.NDArray[Any]]

# The imagecodecs function for each family; jpeg_decode picks among libjpeg-turbo and the
# lossless decoders by the frame header (SOF3: lossless).
_FUNCTIONS = {JPEG: "jpeg_decode", JPEG_LS: "jpegls_decode", JPEG_2000: "jpeg2k_decode"}


class DecodeError(Exception):
    """The decoder refused the frame; the message says why, for the screen."""


def _imagecodecs() -> Any | None:
    try:
        return import_module("imagecodecs")
    except ImportError:
        return None


def available() -> bool:
    return _imagecodecs() is not None


def decoder(family: str | None) -> Decoder | None:
    """The decoder of ``family``; None when the extra is absent or it has none."""
    module = _imagecodecs()
    name = _FUNCTIONS.get(family or "")
    if module is None or name is None:
        return None
    function: Decoder | None = getattr(module, name, None)
    return function


def decode(family: str, data: bytes) -> npt.NDArray[Any]:
    """``data`` (one frame's codestream) decoded: (rows, columns) or (rows, columns,
    samples). Raises :class:`DecodeError` (the extra missing, or the decoder's own error)."""
    function = decoder(family)
    if function is None:
        raise DecodeError(f"{family} frame: {INSTALL}")
    try:
        out = np.asarray(function(data))
    except Exception as exc:  # the decoders raise their own types; each is a message here
        raise DecodeError(f"the {family} decoder failed: {type(exc).__name__}: {exc}") from exc
    if out.ndim == 3 and out.shape[2] == 1:
        out = out[:, :, 0]
    if out.ndim not in (2, 3):
        raise DecodeError(f"the {family} decoder gave an array of shape {out.shape}")
    return out
