"""Training checkpoints for exact resume: Orbax, atomic, with a fingerprint of the run's settings.

What a checkpoint holds: the trainable parameters, the optimizer state (over those leaves only), the
model state (``var_ema``), the RNG key, the step and the sampler's position. Frozen parameters are
not stored: they are the base weights, whose identity is part of the fingerprint.

Atomicity is Orbax's: a step is written under a temporary name and renamed when finalised, and
``CheckpointManager`` only lists finalised steps, so a job killed mid-write resumes from the step
before (the temporary folder is removed when the folder is next opened, :func:`remove_unfinished`).

The fingerprint: a resumed run must be the same run, or "bit-identical to an uninterrupted run"
means nothing; the settings that shape the result are stored as JSON next to the arrays and a
resume with other settings stops with a message naming each changed setting.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax

FORMAT = "genotile-train"
VERSION = 1
STATE_ITEM = "train_state"
META_ITEM = "meta"
TMP_MARK = ".orbax-checkpoint-tmp"  # how Orbax names a step folder until it is finalised


class ResumeError(ValueError):
    """A checkpoint folder that cannot be resumed from, with the fix.

    ``changes`` (``key: was X, now Y``, dotted keys of the run description) and ``step`` are set when the
    folder holds another run's settings, so a caller that knows where those settings come from (the
    ``train_model`` step: config keys) can say it in the user's terms.
    """

    def __init__(self, message: str, *, step: int | None = None, changes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.step, self.changes = step, tuple(changes)


def _orbax():
    import orbax.checkpoint as ocp  # lazily: orbax pulls in tensorstore (slow import)

    return ocp


def canonical(value: Any) -> Any:
    """JSON-safe, order-independent form of settings (tuples as lists, keys sorted by json.dumps)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def fingerprint(run: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(canonical(run), sort_keys=True).encode()).hexdigest()


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}


def changed_settings(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``key: was X, now Y`` for every setting that differs (dotted keys)."""
    old, new = _flat(canonical(stored)), _flat(canonical(current))
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key, "<absent>") != new.get(key, "<absent>"):
            lines.append(f"{key}: was {old.get(key, '<absent>')!r}, now {new.get(key, '<absent>')!r}")
    return lines


def remove_unfinished(directory: Path) -> list[Path]:
    """Delete the step folders a killed job left half-written (Orbax's temporary names), before opening.

    Orbax never lists them, but its own clean-up (``cleanup_tmp_directories``) runs in the background
    and two managers opened one after the other race on the same folders; done here, it is done once.
    """
    removed = []
    if directory.is_dir():
        for path in sorted(directory.glob(f"*{TMP_MARK}*")):
            if path.is_dir():
                shutil.rmtree(path)
                removed.append(path)
    return removed


class TrainCheckpoints:
    """One run's checkpoint folder (``CheckpointManager`` over steps; synchronous writes)."""

    def __init__(self, directory: str | Path, run: Mapping[str, Any], keep: int = 2) -> None:
        ocp = _orbax()
        self.directory = Path(directory).expanduser().resolve()
        self.run = canonical(run)
        self.fingerprint = fingerprint(self.run)
        remove_unfinished(self.directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=(STATE_ITEM, META_ITEM))

    def latest_step(self) -> int | None:
        """The newest *finalised* step (half-written ones are never listed)."""
        return self.manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        ocp = _orbax()
        meta = {"format": FORMAT, "version": VERSION, "fingerprint": self.fingerprint, "run": self.run, "step": step}
        self.manager.save(
            step,
            args=ocp.args.Composite(**{STATE_ITEM: ocp.args.StandardSave(state), META_ITEM: ocp.args.JsonSave(meta)}),
            force=True,
        )
        self.manager.wait_until_finished()

    def check(self, step: int) -> None:
        """Stop when the stored run's settings differ from this run's (named, with the fix)."""
        ocp = _orbax()
        meta = self.manager.restore(step, args=ocp.args.Composite(**{META_ITEM: ocp.args.JsonRestore()}))[META_ITEM]
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ResumeError(
                f"{self.directory}: step {step} is not a {FORMAT} v{VERSION} checkpoint "
                f"(format {meta.get('format')!r}, version {meta.get('version')!r}); fix: use a new checkpoint folder"
            )
        if meta.get("fingerprint") == self.fingerprint:
            return
        changes = changed_settings(meta.get("run", {}), self.run)
        shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
        raise ResumeError(
            f"{self.directory}: cannot resume step {step}: the run's settings changed ({shown or 'fingerprint only'}). "
            "Fix: restore the previous settings to continue that run, or train into a new checkpoint folder "
            f"(or delete {self.directory} to start over)",
            step=step, changes=tuple(changes),
        )

    def restore(self, step: int, like: Any) -> Any:
        """The stored train state, as arrays shaped, typed and placed like ``like``."""
        ocp = _orbax()
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        restored = self.manager.restore(step, args=ocp.args.Composite(**{STATE_ITEM: ocp.args.StandardRestore(abstract)}))
        return restored[STATE_ITEM]

    def close(self) -> None:
        self.manager.close()
