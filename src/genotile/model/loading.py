"""The one model loader every caller uses (rules, CLI, benchmarks): configured weights and metadata as a
:class:`~genotile.model.predictor.Predictor`.

Why one: the CLI used to load weights by its own rules (its ``--size`` meant something else than the
config's ``model.size``); one function keeps "which weights did this run use" a single answer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["load_predictor"]


def load_predictor(model_cfg: Mapping[str, Any], *, exact_size: bool = False,
                   log: Callable[[str], None] | None = None):
    """The configured weights (official/genotile checkpoint, or seeded synthetic) and metadata, as a Predictor.

    ``model_cfg`` is the schema-validated config's ``model`` section (keys ``checkpoint``, ``size``,
    ``seed``, ``metadata``, ``precision``; the CLI builds the same from its flags). Without a
    checkpoint, ``size`` (None: ``tiny``) and ``seed`` make the synthetic weights. With one, the size
    is what the checkpoint says (a genotile checkpoint records it, an official one is ``full``) unless
    ``size`` asks otherwise: ``full`` always does; ``tiny`` only with ``exact_size`` (the CLI's
    ``--size`` given), because the config's ``model.size`` defaults to ``tiny`` (the synthetic model)
    and so cannot mean a tiny checkpoint. ``log`` (default: stderr, a rule's log) says which weights.
    """
    from genotile.model.checkpoints import load_checkpoint, synthetic_model
    from genotile.model.predictor import Predictor
    from genotile.runtime.remote_inputs import checkpoint_path

    say = log or (lambda message: print(f"genotile: {message}", file=sys.stderr, flush=True))
    size = model_cfg["size"]
    if model_cfg["checkpoint"]:
        say(f"loading checkpoint {model_cfg['checkpoint']}")
        asked = size if exact_size or size != "tiny" else None
        loaded = load_checkpoint(checkpoint_path(model_cfg["checkpoint"]), asked)
    else:
        size = size or "tiny"
        say(f"using seeded synthetic '{size}' weights (seed {model_cfg['seed']}): NOT biologically meaningful")
        loaded = synthetic_model(size, int(model_cfg["seed"]))
    return Predictor(loaded, model_cfg["metadata"] or None, precision=model_cfg["precision"])
