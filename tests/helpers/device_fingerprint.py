"""Print digests of a predictor's outputs and of variant scores, on however many devices JAX sees.

Run twice, once with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``: the digests must match
(``tests/model/test_multi_device.py``). A separate process because the device count is fixed when JAX starts.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from genotile.model.checkpoints import synthetic_model
from genotile.model.predictor import Predictor
from genotile.sequence.demo import write_demo_annotation, write_demo_genome
from genotile.sequence.fasta import Genome
from genotile.variants.annotation import read_gtf, read_pas_table
from genotile.variants.engine import ScoringOptions, parse_scorers, score_variants
from genotile.variants.predict import VariantModel


def digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()


def scores_on(predictor: Predictor, folder: Path) -> tuple[str, dict, dict, int]:
    """Variant scores on ``predictor``'s devices: (digest of the score tables' bytes, values, row keys, rows)."""
    genome = Genome(write_demo_genome(folder / "demo.fa"))
    gtf, pas = write_demo_annotation(folder / "demo.gtf", folder / "pas.tsv")
    specs = parse_scorers([  # one per code path: track window, gene masks, junctions on the first device
        {"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_LOG2_SUM"},
        {"scorer": "GeneMaskLFC", "output": "RNA_SEQ"},
        {"scorer": "SpliceJunction", "output": "SPLICE_JUNCTIONS"},
    ])
    model = VariantModel(predictor, {s.output for s in specs})
    sequence = genome.sequence("demo1", 20_000, 20_010).upper()
    variants = pd.DataFrame([
        {"variant_id": "snv", "chrom": "demo1", "pos": 20_001, "ref": sequence[0], "alt": "T" if sequence[0] != "T" else "A"},
        {"variant_id": "del", "chrom": "demo1", "pos": 20_003, "ref": sequence[2:6], "alt": sequence[2]},
        {"variant_id": "ins", "chrom": "demo1", "pos": 20_007, "ref": sequence[6], "alt": sequence[6] + "GA"},
    ])
    scored = score_variants(model, genome, variants, specs, ScoringOptions("centered", 16_384, batch_size=3),
                            read_gtf(gtf), read_pas_table(pas))
    # tiled: one REF pass, its 3 ALT calls (batch 1) on 3 devices, decoder slices, contact maps
    device_specs = parse_scorers([
        {"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_LOG2_SUM"},
        {"scorer": "CenterMask", "output": "CHIP_TF", "width": 501, "aggregation": "ACTIVE_SUM"},
        {"scorer": "ContactMap", "output": "CONTACT_MAPS"},
    ])
    tiled = score_variants(VariantModel(predictor, {s.output for s in device_specs}), genome, variants, device_specs,
                           ScoringOptions("tiled", 16_384, batch_size=1))
    results = (scored, tiled)
    h = hashlib.sha256()
    for result_ in results:
        for name in sorted(result_.scores):
            h.update(name.encode())
            h.update(pd.util.hash_pandas_object(result_.scores[name], index=False).to_numpy().tobytes())
    values = {f"{i}:{n}": r.scores[n]["score"].astype(float).tolist() for i, r in enumerate(results) for n in sorted(r.scores)}
    keys = {f"{i}:{n}": pd.util.hash_pandas_object(r.scores[n].drop(columns="score"), index=False).sum().item()
            for i, r in enumerate(results) for n in sorted(r.scores)}
    return h.hexdigest(), values, keys, sum(len(t) for r in results for t in r.scores.values())


def main() -> None:
    model = synthetic_model("tiny", 0)
    predictor = Predictor(model, None, precision="float32")
    rng = np.random.default_rng(0)
    dna = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 16_384))]  # 3 rows: padded on 2 or 4 devices
    result = {"devices": predictor.device_count, "predict": digest(predictor.predict(dna, 0))}
    with tempfile.TemporaryDirectory() as folder:
        result["scores"], result["score_values"], result["score_keys"], result["score_rows"] = scores_on(predictor, Path(folder))
        if predictor.device_count > 1:  # the same process, one device used: the scores' bytes must not move
            first = Predictor(model, None, precision="float32", devices=jax.local_devices()[:1])
            result["scores_first_device_only"] = scores_on(first, Path(folder))[0]
    assert result["devices"] == len(jax.local_devices())
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
