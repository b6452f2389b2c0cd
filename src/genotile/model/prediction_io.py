"""Writing one window's predictions to disk (``genotile predict``): a Zarr v3 group or an ``.npz`` file.

Both forms keep the reference's output names as keys (``rna_seq/predictions_1bp``;
in Zarr these are nested groups) and carry the provenance needed to trust the
file later: region, organism, model identity, precision, package version.
Writes go to a temporary sibling first and are renamed into place, so an
interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genotile.runtime.atomic import replace_path, temporary_sibling


class OutputPathError(ValueError):
    """The output path cannot be written."""


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Refuse an output path that ``write_predictions`` could not write, before any work is done.

    Checks the suffix and that a temporary sibling can be created (creating missing parent folders).
    """
    path = Path(path)
    if path.suffix not in (".zarr", ".npz"):
        raise OutputPathError(f"{path}: output must end in .zarr or .npz")
    shutil.rmtree(temporary_sibling(path, "new", OutputPathError), ignore_errors=True)
    return path


def write_predictions(path: str | os.PathLike[str], outputs: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> Path:
    """Write ``outputs`` to ``path`` (``.zarr`` directory or ``.npz`` file), atomically."""
    path = Path(path)
    if path.suffix not in (".zarr", ".npz"):
        raise OutputPathError(f"{path}: output must end in .zarr or .npz")

    def build(tmp: Path) -> None:  # tmp keeps path's name: savez_compressed would append .npz to any other
        if path.suffix == ".npz":
            np.savez_compressed(tmp, **dict(outputs), __attrs__=np.array(json.dumps(dict(attrs), default=str)))
        else:
            _write_zarr(tmp, outputs, attrs)

    return replace_path(path, build, OutputPathError)


def _write_zarr(path: Path, outputs: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> None:
    import zarr

    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.attrs.update(json.loads(json.dumps(dict(attrs), default=str)))
    for name, value in outputs.items():
        root.create_array(name, data=np.asarray(value))
    with warnings.catch_warnings():  # zarr warns that consolidated metadata is not yet in the v3 spec
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(path))


def read_predictions(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read back what ``write_predictions`` wrote: (outputs by name, attributes)."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as data:
            attrs = json.loads(str(data["__attrs__"]))
            return {k: data[k] for k in data.files if k != "__attrs__"}, attrs
    import zarr

    root = zarr.open_group(str(path), mode="r")
    outputs = {name: np.asarray(array[...]) for name, array in root.arrays()}
    for group_name, group in root.groups():
        for name, array in group.arrays():
            outputs[f"{group_name}/{name}"] = np.asarray(array[...])
    return outputs, dict(root.attrs)
