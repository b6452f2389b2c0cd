"""Loading and saving model weights: the official AlphaGenome Orbax checkpoint, and genotile's own.

The official checkpoint (Kaggle / Hugging Face, behind the model terms) is an
Orbax ``StandardCheckpointer`` directory holding the Haiku pair
``(params, state)``. Loading is strict: before a byte of weights is read,
the checkpoint's own metadata is compared with the tree this model expects,
and the first missing, extra or mis-shaped array is named, so a user who
points at the wrong folder or a truncated download gets a one-line answer
rather than a failure deep inside a forward pass.

genotile's own checkpoints are the same Orbax layout under ``weights/`` plus
``genotile.json`` recording the model config, so a tiny or fine-tuned model
re-opens with the right shapes without the user restating them.

Integrity. Orbax/tensorstore keep no checksum of array data: a few flipped
bytes in a compressed chunk still decompress, the checkpoint loads and one
head predicts inf/NaN. So genotile records a **sha256 per array of its
values** (the restored array's bytes in its stored dtype, C order,
little-endian), keyed ``params/<module>/<name>`` and ``state/<module>/<name>``:
``save_checkpoint`` writes them into ``genotile.json``, and every load compares
them before the weights are used. Per array of values rather than per file of
the Orbax directory, because Orbax's storage (OCDBT b-tree files, chunking,
compression, file names) is an implementation detail that changes between
versions and re-saves, while the values are what the model uses: the same
weights re-written by another Orbax version keep their checksums, and a
mismatch names the damaged array, not an opaque data file. For an official
checkpoint, ``write_manifest`` (``genotile model manifest DIR``) writes the same
per-array checksums to a manifest once after download; ``verify_checkpoint``
(``genotile model verify DIR``) and every later load check against it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from genotile.model.config import FULL, ModelConfig, get_config
from genotile.model.layout import HaikuTree, from_official, official_shapes, to_official
from genotile.model.synthetic import synthetic_tree
from genotile.runtime.atomic import write_text

CONFIG_FILE = "genotile.json"
ROOT_SCOPE = "alphagenome"
LORA_MODULE = "lora_adapters"  # delta checkpoints: the adapters, keyed by kernel path with '|' for '/'

WEIGHTS_DIR = "weights"
FORMAT_VERSION = 2  # 2: genotile.json carries per-array checksums (version-1 checkpoints load unverified)
MANIFEST_FILE = "genotile-manifest.json"  # default place of `genotile model manifest`'s checksums
MANIFEST_FORMAT = "genotile-checkpoint-manifest"
CHECKSUM_ALGORITHM = "sha256 of each array's values (stored dtype, C order, little-endian)"
FIX = "re-download / re-create the checkpoint"
Variables = dict[str, Any]
Checksums = dict[str, str]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason and the fix."""


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """Weights plus what is needed to rebuild the module that uses them."""

    config: ModelConfig
    variables: Variables
    source: str  # "official", "genotile" or "synthetic"
    identity: str  # a human-readable identity recorded as provenance
    #: The tracks added by fine-tuning (:mod:`genotile.model.new_tracks`), when ``config.new_tracks`` is set.
    new_tracks: Any = None  # pandas.DataFrame | None (pandas is imported lazily)


@dataclasses.dataclass(frozen=True)
class Verified:
    """What :func:`verify_checkpoint` checked: array and value counts, and where the checksums came from."""

    arrays: int
    values: int
    source: str


def _orbax():
    import orbax.checkpoint as ocp  # imported lazily: orbax pulls in tensorstore (slow import)

    return ocp


def _is_orbax_dir(path: Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in ("_METADATA", "_CHECKPOINT_METADATA", "manifest.ocdbt"))


def _checkpoint_metadata(path: Path) -> list[Mapping[str, Mapping[str, Any]]]:
    ocp = _orbax()
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            meta = checkpointer.metadata(path)
    except Exception as exc:  # orbax raises many types; all mean "not a readable checkpoint"
        raise CheckpointError(
            f"{path}: cannot read the Orbax checkpoint metadata ({type(exc).__name__}: {exc}); {FIX}"
        ) from None
    tree = getattr(meta, "item_metadata", meta)
    tree = getattr(tree, "tree", tree)
    if tree is None:
        raise CheckpointError(f"{path}: the Orbax metadata lists no arrays (_METADATA missing, empty or truncated); {FIX}")
    if not isinstance(tree, (list, tuple)) or len(tree) != 2:
        raise CheckpointError(
            f"{path}: expected the pair (params, state) that AlphaGenome checkpoints hold, "
            f"found a {type(tree).__name__}; is this an AlphaGenome checkpoint?"
        )
    return list(tree)


def _compare(kind: str, path: Path, found: Mapping[str, Mapping[str, Any]], expected: HaikuTree) -> None:
    """Raise on the first difference between a checkpoint's arrays and the model's, in a stable order."""
    found_keys = {(m, n): tuple(v.shape) for m, leaves in found.items() for n, v in leaves.items()}
    expected_keys = {(m, n): tuple(s) for m, leaves in expected.items() for n, s in leaves.items()}
    missing = sorted(expected_keys.keys() - found_keys.keys())
    extra = sorted(found_keys.keys() - expected_keys.keys())
    if missing:
        m, n = missing[0]
        raise CheckpointError(
            f"{path}: {kind} array {m}/{n} {list(expected_keys[(m, n)])} is missing "
            f"({len(missing)} missing in all). The checkpoint is incomplete or is not this model size."
        )
    if extra:
        m, n = extra[0]
        raise CheckpointError(
            f"{path}: unexpected {kind} array {m}/{n} {list(found_keys[(m, n)])} "
            f"({len(extra)} extra in all). The checkpoint is for a different model or size."
        )
    for key in sorted(expected_keys):
        if found_keys[key] != expected_keys[key]:
            raise CheckpointError(
                f"{path}: {kind} array {key[0]}/{key[1]} has shape {list(found_keys[key])}, "
                f"the model expects {list(expected_keys[key])}. The checkpoint is for a different model size."
            )


def read_official(
    path: str | os.PathLike[str],
    config: ModelConfig | str = FULL,
    checksums: Mapping[str, str] | None = None,
    checksums_source: str = "",
) -> Variables:
    """Strictly restore an official-layout ``(params, state)`` Orbax checkpoint into Flax variables.

    ``checksums`` (``{'params/<module>/<name>': sha256}``, from ``genotile.json`` or a manifest named by
    ``checksums_source``) are compared with the restored values before they are returned.
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint folder not found")
    if not _is_orbax_dir(path):
        raise CheckpointError(
            f"{path}: not an Orbax checkpoint (no _METADATA or manifest.ocdbt). Point at the folder "
            "downloaded from Kaggle/Hugging Face that holds those files."
        )
    cfg = get_config(config)
    expected_params, expected_state = official_shapes(cfg)
    found_params, found_state = _checkpoint_metadata(path)
    _compare("parameter", path, found_params, expected_params)
    _compare("state", path, found_state, expected_state)
    params, state = _restore(path, [found_params, found_state])
    if checksums is not None:
        check_checksums(path, params, state, checksums, checksums_source)
    as_f32 = lambda tree: {m: {n: np.asarray(v, np.float32) for n, v in leaves.items()} for m, leaves in tree.items()}
    return from_official(as_f32(params), as_f32(state))


def _restore(path: Path, metadata: list[Mapping[str, Mapping[str, Any]]]) -> tuple[HaikuTree, HaikuTree]:
    """Restore every array as stored (shape and dtype from the checkpoint's own metadata), as numpy.

    Stored dtypes are kept so checksums are of the stored values; callers cast (exactly) to float32.
    The checkpointer is closed on every path (``with``), and a failure becomes one ``CheckpointError``.
    """
    ocp = _orbax()
    target = [
        {m: {n: np.zeros(tuple(v.shape), np.dtype(v.dtype)) for n, v in leaves.items()} for m, leaves in tree.items()}
        for tree in metadata
    ]
    previous_hook = _drop_stale_event_loop_reports()
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            params, state = checkpointer.restore(path, target=target)
    except Exception as exc:  # the filter stays: reads still in flight report later, up to interpreter exit
        raise CheckpointError(
            f"{path}: restoring the arrays failed ({type(exc).__name__}: {exc}); the checkpoint is truncated or "
            f"damaged: {FIX}"
        ) from None
    if previous_hook is not None:  # a clean restore leaves nothing in flight: put the hook back
        sys.unraisablehook = previous_hook
    as_np = lambda tree: {m: {n: np.asarray(v) for n, v in leaves.items()} for m, leaves in tree.items()}
    return as_np(params), as_np(state)


def _drop_stale_event_loop_reports() -> Any:
    """Silence the ``RuntimeError: Event loop is closed`` reports that follow a failed restore.

    Orbax runs a restore's array reads with ``asyncio.gather`` on a fresh event loop and closes that
    loop as soon as one read fails (a truncated or missing data file). tensorstore still completes
    the other reads on its own threads, and each completion callback finds the loop closed: Python
    reports every one through ``sys.unraisablehook`` as a traceback, around and after our one-line
    message (ten of them for the full model). Those reads' results are unwanted and Orbax offers no
    way to drain them, so during a restore (and after a failed one, for good) exactly that report
    is dropped; anything else still reaches the previous hook. Returns the hook replaced (``None``
    when the filter was already in place), for the caller to put back after a clean restore.
    """
    previous = sys.unraisablehook
    if getattr(previous, "genotile_drops_stale_loop_reports", False):
        return None

    def hook(unraisable: Any) -> None:
        exc = unraisable.exc_value
        if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
            return
        previous(unraisable)

    hook.genotile_drops_stale_loop_reports = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook
    return previous


def _digest(value: np.ndarray) -> str:
    """sha256 of an array's values: its bytes in C order, little-endian (the same on every machine)."""
    value = np.ascontiguousarray(value)
    if value.dtype.byteorder == ">":
        value = value.astype(value.dtype.newbyteorder("<"))
    return hashlib.sha256(value.reshape(-1).view(np.uint8)).hexdigest()  # a view: works for bfloat16 too


def array_checksums(params: HaikuTree, state: HaikuTree) -> Checksums:
    """``{'params/<module>/<name>': sha256, 'state/...': ...}`` of an official-layout pair, sorted by key.

    hashlib releases the GIL on large buffers, so arrays are hashed on a few threads (the full
    model's ~1.8 GB in about a second).
    """
    arrays = {
        f"{kind}/{module}/{name}": value
        for kind, tree in (("params", params), ("state", state))
        for module, leaves in tree.items()
        for name, value in leaves.items()
    }
    keys = sorted(arrays)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        digests = list(pool.map(lambda k: _digest(np.asarray(arrays[k])), keys))
    return dict(zip(keys, digests))


def check_checksums(
    path: Path, params: HaikuTree, state: HaikuTree, expected: Mapping[str, str], source: str
) -> Checksums:
    """Raise on the first array (sorted by key) whose values do not match ``expected``; return the checksums."""
    found = array_checksums(params, state)
    where = f" ({source})" if source else ""
    missing = sorted(expected.keys() - found.keys())
    if missing:
        raise CheckpointError(
            f"{path}: array {missing[0]} listed in the checksums{where} is not in the checkpoint "
            f"({len(missing)} in all): the checksums are for another checkpoint, or {FIX}"
        )
    extra = sorted(found.keys() - expected.keys())
    if extra:
        raise CheckpointError(
            f"{path}: array {extra[0]} has no checksum{where} ({len(extra)} in all): the checksums are for "
            f"another checkpoint, or {FIX}"
        )
    for key in found:
        if found[key] != expected[key]:
            raise CheckpointError(
                f"{path}: array {key} does not match its checksum{where}: the checkpoint is corrupted "
                f"(damaged download or disk); {FIX}"
            )
    return found


def write_official(path: str | os.PathLike[str], params: HaikuTree, state: HaikuTree) -> Path:
    """Write ``(params, state)`` in the official Orbax layout (what the reference's ``create`` restores)."""
    path = Path(path).expanduser().resolve()
    if path.exists():
        raise CheckpointError(f"{path}: already exists; choose a new folder or delete it first")
    ocp = _orbax()
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, (params, state))
        checkpointer.wait_until_finished()
    return path


def save_checkpoint(
    path: str | os.PathLike[str], variables: Variables, config: ModelConfig, note: str = "", new_tracks: Any = None
) -> Path:
    """Save a genotile checkpoint: official-layout weights, the model config that shapes them, and checksums.

    ``new_tracks`` (the table of :mod:`genotile.model.new_tracks`; required when ``config.new_tracks`` is
    set) is recorded in ``genotile.json``, so the fine-tuned tracks keep their names and scales. The
    checksums (:func:`array_checksums` of the float32 values written) go into ``genotile.json`` and are
    verified by every :func:`load_checkpoint` and by ``genotile model verify``.
    """
    from genotile.model.new_tracks import NewTracksError, check_matches, table_to_json

    path = Path(path).expanduser().resolve()
    if path.exists():
        raise CheckpointError(f"{path}: already exists; choose a new folder or delete it first")
    try:
        check_matches(config, new_tracks, "save_checkpoint")
    except NewTracksError as exc:
        raise CheckpointError(str(exc)) from None
    path.mkdir(parents=True)
    params, state = to_official(variables)
    as_np = lambda tree: {m: {n: np.asarray(v, np.float32) for n, v in leaves.items()} for m, leaves in tree.items()}
    params, state = as_np(params), as_np(state)
    write_official(path / WEIGHTS_DIR, params, state)
    meta = {
        "format": "genotile",
        "version": FORMAT_VERSION,
        "config": dataclasses.asdict(config),
        "note": note,
        "checksum_algorithm": CHECKSUM_ALGORITHM,
        "checksums": array_checksums(params, state),
    }
    if new_tracks is not None:
        meta["new_tracks"] = table_to_json(new_tracks)
    (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    return path


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / CONFIG_FILE).read_text())
        if not isinstance(meta, dict):
            raise ValueError(f"expected a JSON object, found {type(meta).__name__}")
        return meta
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path / CONFIG_FILE}: unreadable genotile checkpoint config ({exc})") from None


def _config_from_json(path: Path) -> ModelConfig:
    try:
        fields = dict(_read_meta(path)["config"])
        fields["head_tracks"] = tuple((str(k), int(v)) for k, v in fields["head_tracks"])
        fields["new_tracks"] = tuple((str(k), int(v)) for k, v in fields.get("new_tracks", ()))
        return ModelConfig(**fields)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path / CONFIG_FILE}: unreadable genotile checkpoint config ({exc})") from None


def _new_tracks_from_json(path: Path, cfg: ModelConfig) -> Any:
    """The new-track table ``genotile.json`` records (None for a model without new tracks)."""
    from genotile.model.new_tracks import NewTracksError, check_matches, table_from_json

    rows = _read_meta(path).get("new_tracks")
    try:
        table = None if rows is None else table_from_json(rows)
        check_matches(cfg, table, str(path / CONFIG_FILE))
    except (NewTracksError, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{path / CONFIG_FILE}: unreadable new_tracks ({exc}); {FIX}") from None
    return table


def read_checkpoint_config(path: str | os.PathLike[str]) -> tuple[ModelConfig, Any]:
    """A genotile checkpoint's model config and new-track table (None without new tracks), without its
    weights: what resolving a ``tracks:`` selection needs (channel counts and the new tracks' names)."""
    path = Path(path).expanduser().resolve()
    if not (path / CONFIG_FILE).is_file():
        raise CheckpointError(f"{path}: not a genotile checkpoint (no {CONFIG_FILE})")
    cfg = _config_from_json(path)
    return cfg, _new_tracks_from_json(path, cfg)


def _builtin_checksums(path: Path) -> Checksums | None:
    """The checksums ``genotile.json`` carries (``None`` for a version-1 checkpoint, written before them)."""
    checksums = _read_meta(path).get("checksums")
    if checksums is None:
        return None
    if not isinstance(checksums, dict) or not all(isinstance(v, str) for v in checksums.values()):
        raise CheckpointError(f"{path / CONFIG_FILE}: 'checksums' is not a mapping of array names to sha256; {FIX}")
    return dict(checksums)


def read_manifest(path: str | os.PathLike[str]) -> Checksums:
    """The per-array checksums of a manifest written by :func:`write_manifest`."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text())
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        arrays = data["arrays"]
        if not isinstance(arrays, dict) or not all(isinstance(v, str) for v in arrays.values()):
            raise ValueError("'arrays' is not a mapping of array names to sha256")
        return dict(arrays)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checksum manifest not found") from None
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(
            f"{path}: not a genotile checksum manifest ({exc}); make one with `genotile model manifest`"
        ) from None


def _orbax_dir(path: Path) -> Path:
    """The Orbax folder of either kind of checkpoint (``weights/`` inside a genotile one)."""
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint folder not found")
    orbax_dir = path / WEIGHTS_DIR if (path / CONFIG_FILE).exists() else path
    if not _is_orbax_dir(orbax_dir):
        raise CheckpointError(
            f"{orbax_dir}: not an Orbax checkpoint (no _METADATA or manifest.ocdbt). Point at the folder "
            "downloaded from Kaggle/Hugging Face that holds those files, or at a genotile checkpoint."
        )
    return orbax_dir


def _restore_any(orbax_dir: Path) -> tuple[HaikuTree, HaikuTree]:
    """Every array of any AlphaGenome-layout checkpoint, as stored (no model size needed)."""
    return _restore(orbax_dir, _checkpoint_metadata(orbax_dir))


def write_manifest(path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> tuple[Path, int]:
    """Write the per-array checksums of a checkpoint (by default to ``DIR/genotile-manifest.json``).

    Make it once, right after downloading (from a copy you trust); later loads and ``genotile model
    verify`` compare against it. An existing manifest is never overwritten: re-making it from a damaged
    copy would bless the damage. A genotile checkpoint is first checked against its built-in checksums.
    Returns the manifest's path and the number of arrays.
    """
    path = Path(path).expanduser().resolve()
    orbax_dir = _orbax_dir(path)
    target = Path(out).expanduser() if out is not None else path / MANIFEST_FILE
    if target.exists():
        raise CheckpointError(f"{target}: already exists; delete it first to re-make it (only from a copy you trust)")
    params, state = _restore_any(orbax_dir)
    builtin = _builtin_checksums(path) if orbax_dir != path else None
    if builtin is not None:
        checksums = check_checksums(orbax_dir, params, state, builtin, str(path / CONFIG_FILE))
    else:
        checksums = array_checksums(params, state)
    data = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "algorithm": CHECKSUM_ALGORITHM,
        "checkpoint": str(path),
        "arrays": checksums,
    }
    try:
        write_text(target, json.dumps(data, indent=1) + "\n")
    except OSError as exc:
        raise CheckpointError(
            f"cannot write {target} ({exc.strerror or exc}); pass --out FILE in a writable folder"
        ) from None
    return target, len(checksums)


def verify_checkpoint(path: str | os.PathLike[str], manifest: str | os.PathLike[str] | None = None) -> Verified:
    """Restore every array of a checkpoint and compare its values with recorded checksums.

    The checksums come from ``manifest`` when given, else a genotile checkpoint's ``genotile.json``,
    else ``DIR/genotile-manifest.json``. Raises ``CheckpointError`` naming the first unreadable or
    mismatching array.
    """
    path = Path(path).expanduser().resolve()
    orbax_dir = _orbax_dir(path)
    expected: Checksums | None = None
    source = ""
    if manifest is not None:
        expected, source = read_manifest(manifest), str(manifest)
    elif orbax_dir != path and (builtin := _builtin_checksums(path)) is not None:
        expected, source = builtin, str(path / CONFIG_FILE)
    elif (path / MANIFEST_FILE).is_file():
        expected, source = read_manifest(path / MANIFEST_FILE), str(path / MANIFEST_FILE)
    if expected is None:
        raise CheckpointError(
            f"{path}: no checksums to verify against (not a genotile checkpoint with built-in checksums, no "
            f"{MANIFEST_FILE}): make a manifest once from a copy you trust with `genotile model manifest {path}`, "
            "or pass --manifest FILE"
        )
    params, state = _restore_any(orbax_dir)
    check_checksums(orbax_dir, params, state, expected, source)
    values = sum(int(np.asarray(v).size) for tree in (params, state) for leaves in tree.values() for v in leaves.values())
    return Verified(arrays=len(expected), values=values, source=source)


DELTA_FORMAT = "genotile-delta"


def weights_identity(variables: Variables) -> str:
    """The identity of a set of weights: sha256 of their sorted per-array checksums (``sha256:<hex>``)."""
    params, state = to_official(variables)
    as_np = lambda tree: {m: {n: np.asarray(v, np.float32) for n, v in leaves.items()} for m, leaves in tree.items()}
    checksums = array_checksums(as_np(params), as_np(state))
    return "sha256:" + hashlib.sha256(json.dumps(checksums, sort_keys=True).encode()).hexdigest()


def _flat_official(variables: Variables) -> dict[str, np.ndarray]:
    params, state = to_official(variables)
    return {f"{kind}/{m}/{n}": np.asarray(v, np.float32) for kind, tree in (("params", params), ("state", state))
            for m, leaves in tree.items() for n, v in leaves.items()}


def _split_flat(arrays: Mapping[str, np.ndarray]) -> tuple[HaikuTree, HaikuTree]:
    trees: dict[str, HaikuTree] = {"params": {}, "state": {}}
    for key, value in arrays.items():
        kind, rest = key.split("/", 1)
        module, name = rest.rsplit("/", 1)
        trees[kind].setdefault(module, {})[name] = value
    return trees["params"], trees["state"]


def save_delta_checkpoint(
    path: str | os.PathLike[str],
    model: LoadedModel,
    base: LoadedModel,
    *,
    adapters: Mapping[str, Any] | None = None,
    lora_scale: float | None = None,
    note: str = "",
) -> Path:
    """Save only what fine-tuning changed: arrays ``base`` lacks (the new heads), arrays whose values differ
    from the base's (trained original-head leaves, EMA state), and LoRA ``adapters`` (nested
    ``{kernel path: {'a', 'b'}}`` of :func:`genotile.train.lora.init_adapters`, merged on load as
    ``W + lora_scale * A @ B``; the adapted kernels themselves are not stored).

    Records the base weights' identity (:func:`weights_identity`) and where they came from
    (``base.identity``); :func:`load_checkpoint` refuses to apply the delta to other weights.
    """
    from genotile.model.new_tracks import NewTracksError, check_matches, table_to_json

    path = Path(path).expanduser().resolve()
    if path.exists():
        raise CheckpointError(f"{path}: already exists; choose a new folder or delete it first")
    if model.config.without_new_tracks() != base.config.without_new_tracks():
        raise CheckpointError(f"save_delta_checkpoint: the model is a {model.config.name!r} model, the base a "
                              f"{base.config.name!r} one; a delta holds the difference from the model's own base")
    try:
        check_matches(model.config, model.new_tracks, "save_delta_checkpoint")
    except NewTracksError as exc:
        raise CheckpointError(str(exc)) from None
    adapter_leaves = {}
    if adapters:
        if lora_scale is None:
            raise CheckpointError("save_delta_checkpoint: adapters given without lora_scale (alpha / rank)")
        from flax import traverse_util

        adapter_leaves = {k: np.asarray(v, np.float32) for k, v in traverse_util.flatten_dict(adapters, sep="/").items()}
    adapted = {f"params/{ROOT_SCOPE}/{k.rsplit('/', 1)[0]}" for k in adapter_leaves}  # '<kernel path>/a' -> kernel
    mine, theirs = _flat_official(model.variables), _flat_official(base.variables)
    changed = {k: v for k, v in mine.items()
               if k not in adapted and (k not in theirs or v.shape != theirs[k].shape or not np.array_equal(v, theirs[k]))}
    if not changed and not adapter_leaves:
        raise CheckpointError("save_delta_checkpoint: the model does not differ from its base; nothing to save")
    path.mkdir(parents=True)
    params, state = _split_flat(changed)
    if adapter_leaves:
        params[LORA_MODULE] = {k.replace("/", "|"): v for k, v in adapter_leaves.items()}
    write_official(path / WEIGHTS_DIR, params, state)
    meta = {
        "format": DELTA_FORMAT,
        "version": FORMAT_VERSION,
        "config": dataclasses.asdict(model.config),
        "note": note,
        "base": {"identity": weights_identity(base.variables), "source": base.identity,
                 "config": dataclasses.asdict(base.config)},
        "lora_scale": lora_scale,
        "checksum_algorithm": CHECKSUM_ALGORITHM,
        "checksums": array_checksums(params, state),
    }
    if model.new_tracks is not None:
        meta["new_tracks"] = table_to_json(model.new_tracks)
    write_text(path / CONFIG_FILE, json.dumps(meta, indent=2))
    return path


def _base_from_source(source: str, where: Path) -> LoadedModel:
    """Re-open a delta's base from its recorded provenance (``synthetic:<size>:seed=N``, ``genotile:DIR``, ``official:DIR``)."""
    kind, _, rest = source.partition(":")
    if kind == "synthetic":
        size, _, seed = rest.partition(":seed=")
        return synthetic_model(size, int(seed))
    if kind in ("genotile", "official") and Path(rest).exists():
        return load_checkpoint(rest)
    raise CheckpointError(f"{where}: this delta checkpoint's base weights ({source}) are not found; "
                          "fix: pass them with load_checkpoint(path, base=LoadedModel) or put the base checkpoint back")


def _load_delta(path: Path, meta: Mapping[str, Any], base: LoadedModel | None) -> LoadedModel:
    cfg = _config_from_json(path)
    new_tracks = _new_tracks_from_json(path, cfg)
    recorded = meta.get("base", {})
    base = base if base is not None else _base_from_source(str(recorded.get("source", "")), path)
    found = weights_identity(base.variables)
    if found != recorded.get("identity"):
        raise CheckpointError(
            f"{path}: this delta checkpoint was made on base weights {recorded.get('identity')} "
            f"({recorded.get('source')}), but the base given is {found} ({base.identity}); a delta applies only to "
            "its own base: fix: load it on those weights (the model.checkpoint / train.base_checkpoint it was trained "
            "from) or use the full fine-tuned checkpoint"
        )
    orbax_dir = path / WEIGHTS_DIR
    params, state = _restore_any(orbax_dir)
    check_checksums(orbax_dir, params, state, _builtin_checksums(path) or {}, str(path / CONFIG_FILE))
    adapters = params.pop(LORA_MODULE, {})
    arrays = _flat_official(base.variables)
    arrays.update({f"params/{m}/{n}": np.asarray(v, np.float32) for m, leaves in params.items() for n, v in leaves.items()})
    arrays.update({f"state/{m}/{n}": np.asarray(v, np.float32) for m, leaves in state.items() for n, v in leaves.items()})
    scale = meta.get("lora_scale")
    for key in {k.rsplit("|", 1)[0] for k in adapters}:
        kernel = f"params/{ROOT_SCOPE}/{key.replace('|', '/')}"
        a, b = np.asarray(adapters[f"{key}|a"], np.float32), np.asarray(adapters[f"{key}|b"], np.float32)
        arrays[kernel] = arrays[kernel] + np.float32(scale) * (a @ b)
    merged_params, merged_state = _split_flat(arrays)
    expected_params, expected_state = official_shapes(cfg)
    found_shapes = lambda tree: {m: {n: np.asarray(v) for n, v in leaves.items()} for m, leaves in tree.items()}
    _compare("parameter", path, found_shapes(merged_params), expected_params)
    _compare("state", path, found_shapes(merged_state), expected_state)
    variables = from_official(merged_params, merged_state)
    return LoadedModel(cfg, variables, "genotile", f"genotile-delta:{path}", new_tracks)


def load_checkpoint(
    path: str | os.PathLike[str], config: ModelConfig | str | None = None, base: LoadedModel | None = None
) -> LoadedModel:
    """Open either kind of checkpoint: genotile's (config read from it) or official (``full`` by default).

    A genotile checkpoint's values are checked against the checksums in its ``genotile.json``; an
    official one's against ``DIR/genotile-manifest.json`` when the user has made one. A delta checkpoint
    (:func:`save_delta_checkpoint`) is applied to ``base`` (default: the base it records, re-opened), which
    must be the weights it was made on.
    """
    path = Path(path).expanduser().resolve()
    if (path / CONFIG_FILE).exists() and _read_meta(path).get("format") == DELTA_FORMAT:
        loaded = _load_delta(path, _read_meta(path), base)
        if config is not None and get_config(config) != loaded.config.without_new_tracks():
            raise CheckpointError(f"{path}: holds a {loaded.config.name!r} model, but {get_config(config).name!r} was asked for")
        return loaded
    if (path / CONFIG_FILE).exists():
        cfg = _config_from_json(path)
        if config is not None and get_config(config) != cfg.without_new_tracks():
            raise CheckpointError(f"{path}: holds a {cfg.name!r} model, but {get_config(config).name!r} was asked for")
        new_tracks = _new_tracks_from_json(path, cfg)
        checksums = _builtin_checksums(path)
        variables = read_official(path / WEIGHTS_DIR, cfg, checksums, str(path / CONFIG_FILE))
        return LoadedModel(cfg, variables, "genotile", f"genotile:{path}", new_tracks)
    cfg = get_config(config or FULL)
    manifest = path / MANIFEST_FILE
    checksums = read_manifest(manifest) if manifest.is_file() else None
    return LoadedModel(cfg, read_official(path, cfg, checksums, str(manifest)), "official", f"official:{path}")


def synthetic_variables(config: ModelConfig | str, seed: int) -> Variables:
    """Deterministic pseudo-random weights for any size (tests, demos: not biologically meaningful)."""
    params, state = official_shapes(get_config(config))
    return from_official(synthetic_tree(params, seed), synthetic_tree(state, seed))


def synthetic_model(config: ModelConfig | str, seed: int) -> LoadedModel:
    cfg = get_config(config)
    return LoadedModel(cfg, synthetic_variables(cfg, seed), "synthetic", f"synthetic:{cfg.name}:seed={seed}")
