"""Sequence encoding: one-hot (the reference encoder's byte-exact ACGT order), reverse complement and the
input-length check (a positive multiple of the 2,048-bp grid).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Final, TypeVar, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "GRID_BP", "ONE_HOT_ORDER", "STANDARD_LENGTHS", "SequenceLengthError", "one_hot", "one_hot_batch",
    "reverse_complement", "reverse_complement_one_hot", "validate_length",
]

#: Channel order of the one-hot encoding (the reference encoder's order).
ONE_HOT_ORDER: Final = "ACGT"
GRID_BP: Final = 2048
"""The 2,048-bp grid every length and coordinate of genotile snaps to.

Why 2,048: it is the model's coarsest resolution. AlphaGenome-class models pool 1 bp -> 128 bp
(7 poolings of 2) and build the pair (contact-map) representation from 16 x 128-bp tokens,
so an input must be a whole number of 2,048-bp bins. Windows start on this grid and their
owned parts end on it, so every resolution (1, 128, 2,048 bp) of every window lands on the same
bins of the genome; store chunks are multiples of it. The one definition: the tiling, the store,
the contact maps and the predictor import it.
"""
#: The input lengths the reference model is used with (16 kb ... 1 Mb).
STANDARD_LENGTHS: Final = (16_384, 131_072, 524_288, 1_048_576)

ArrayT = TypeVar("ArrayT")


# -- one-hot encoding ----------------------------------------------------------


@functools.cache
def _one_hot_table(dtype: np.dtype) -> np.ndarray:
    """256 x 4 lookup table, one row per byte value (a vectorised ``np.take``, as in the reference)."""
    table = np.zeros((256, len(ONE_HOT_ORDER)), dtype=dtype)
    for channel, base in enumerate(ONE_HOT_ORDER):
        table[ord(base), channel] = 1
        table[ord(base.lower()), channel] = 1
    table.setflags(write=False)  # shared by every call: never let a caller mutate it
    return table


def _as_codes(sequence: str | bytes | bytearray | memoryview, where: str = "") -> np.ndarray:
    """The sequence as uint8 byte values; ``str`` goes through Latin-1 (code points 0-255
    map to the same bytes, so a ``str`` and its ``bytes`` encode identically)."""
    if isinstance(sequence, str):
        try:
            raw = sequence.encode("latin-1")
        except UnicodeEncodeError as err:
            char = sequence[err.start]
            raise ValueError(
                f"{where}character {char!r} (U+{ord(char):04X}) at position {err.start:,} is not a Latin-1 "
                "character, so it cannot be a DNA base. DNA sequences must be plain text (A, C, G, T, N or "
                "IUPAC codes); check the input for a mis-encoded file or stray Unicode (e.g. a typographic "
                "dash or quote)."
            ) from None
        return np.frombuffer(raw, dtype=np.uint8)
    if isinstance(sequence, (bytes, bytearray, memoryview)):
        return np.frombuffer(sequence, dtype=np.uint8)
    raise TypeError(f"{where}expected a DNA sequence as str or bytes, got {type(sequence).__name__}")


def one_hot(sequence: str | bytes, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """One-hot encode a DNA sequence to ``[S, 4]`` (channels ``ACGT``): A, C, G, T in either case
    become unit rows, every other byte (N, IUPAC codes, anything) an all-zero row, as in the reference."""
    return np.take(_one_hot_table(np.dtype(dtype)), _as_codes(sequence), axis=0)


def one_hot_batch(sequences: Sequence[str | bytes], dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """One-hot encode equal-length sequences to ``[B, S, 4]`` (no silent padding: that
    would hide a tiling bug upstream)."""
    if isinstance(sequences, (str, bytes, bytearray, memoryview)):
        raise TypeError("one_hot_batch expects a sequence of DNA sequences; for a single sequence use one_hot()")
    seqs = list(sequences)
    if not seqs:
        raise ValueError("one_hot_batch: got no sequences; a batch needs at least one")
    length = len(seqs[0])
    for index, seq in enumerate(seqs):
        if len(seq) != length:
            lengths = sorted({len(s) for s in seqs})
            shown = ", ".join(f"{n:,}" for n in lengths[:6]) + (" ..." if len(lengths) > 6 else "")
            raise ValueError(
                f"one_hot_batch: all sequences must have the same length to form a [B, S, 4] array, but "
                f"sequence 0 has {length:,} bp and sequence {index} has {len(seq):,} bp (lengths seen: "
                f"{shown}). Fix: request intervals of one width, or pad the short sequences with N."
            )
    codes = np.empty((len(seqs), length), dtype=np.uint8)
    for index, seq in enumerate(seqs):
        codes[index] = _as_codes(seq, where=f"one_hot_batch: sequence {index}: ")
    return np.take(_one_hot_table(np.dtype(dtype)), codes, axis=0)


# -- reverse complement --------------------------------------------------------

_COMPLEMENT_FROM: Final = "ACGTRYKMBVDHSWNacgtrykmbvdhswn"
_COMPLEMENT_TO: Final = "TGCAYRMKVBHDSWNtgcayrmkvbhdswn"
_STR_COMPLEMENT: Final = str.maketrans(_COMPLEMENT_FROM, _COMPLEMENT_TO)
_BYTES_COMPLEMENT: Final = bytes.maketrans(_COMPLEMENT_FROM.encode(), _COMPLEMENT_TO.encode())


@overload
def reverse_complement(sequence: str) -> str: ...
@overload
def reverse_complement(sequence: bytes | bytearray) -> bytes: ...
def reverse_complement(sequence: str | bytes | bytearray) -> str | bytes:
    """Reverse complement, preserving case: A<->T, C<->G, R<->Y, K<->M, B<->V, D<->H; S, W, N and
    every other character unchanged (an involution that keeps what the FASTA says)."""
    if isinstance(sequence, str):
        return sequence.translate(_STR_COMPLEMENT)[::-1]
    if isinstance(sequence, (bytes, bytearray)):
        return bytes(sequence).translate(_BYTES_COMPLEMENT)[::-1]
    raise TypeError(f"expected str or bytes, got {type(sequence).__name__}")


def reverse_complement_one_hot(x: ArrayT) -> ArrayT:
    """Reverse complement a one-hot array ``[..., S, 4]`` (numpy or JAX): with channels in
    ``ACGT`` order that is the view ``x[..., ::-1, ::-1]``."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) < 2 or shape[-1] != len(ONE_HOT_ORDER):
        raise ValueError(
            f"reverse_complement_one_hot expects an array of shape [..., S, 4] (channels {ONE_HOT_ORDER}), "
            f"got shape {shape}"
        )
    return x[..., ::-1, ::-1]  # type: ignore[index]


# -- length checks -------------------------------------------------------------


class SequenceLengthError(ValueError):
    """A sequence length the model cannot take (not a positive multiple of 2,048 bp)."""


def validate_length(length: int, multiple: int = GRID_BP) -> None:
    """Raise :class:`SequenceLengthError` unless ``length`` is a positive multiple of ``multiple``
    (a wrong length otherwise fails deep inside the U-Net with an unhelpful shape error)."""
    if isinstance(multiple, bool) or operator.index(multiple) <= 0:
        raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
    multiple = operator.index(multiple)
    standard = [n for n in STANDARD_LENGTHS if n % multiple == 0]
    fix_regions = " or choose a region of " + " / ".join(f"{n:,}" for n in standard) + " bp" if standard else ""
    try:
        n = None if isinstance(length, bool) else operator.index(length)
    except TypeError:
        n = None
    if n is None:
        raise SequenceLengthError(
            f"sequence length must be a whole number of bp, got {length!r} ({type(length).__name__}). "
            f"Fix: pass an int that is a positive multiple of {multiple:,}{fix_regions}."
        )
    if n > 0 and n % multiple == 0:
        return
    below = (n // multiple) * multiple
    above = below + multiple
    if below > 0:
        nearest = f"nearest valid lengths: {below:,} bp below and {above:,} bp above"
    else:
        above = max(above, multiple)
        nearest = f"nearest valid length: {above:,} bp (the smallest valid length)"
    problem = "is not positive" if n <= 0 else f"is not a multiple of {multiple:,} bp"
    raise SequenceLengthError(
        f"sequence length {n:,} bp {problem}; the model needs a positive multiple of {multiple:,} bp (its "
        f"coarsest resolution). {nearest}. Fix: pad with N to {above:,} bp (Genome.sequence pads past "
        f"contig ends with N){fix_regions}."
    )


