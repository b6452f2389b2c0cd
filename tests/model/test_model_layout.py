"""The parameter layout of genotile's model against the official AlphaGenome tree.

Expected numbers come from the spec (``shared/reference/alphagenome-spec.md``
§5 and Appendix A, a ``jax.eval_shape`` of the official init), and, when it
exists on the machine, from a shape dump of the real reference code
(``scratch/official_shapes.json``).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from genotile.model import config, layout, synthetic

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parents[0] / "shared/reference/alphagenome-spec.md"
SCRATCH_SHAPES = ROOT.parents[0] / "scratch/official_shapes.json"

TOTAL_PARAMS = 450_452_613
TOTAL_STATE = 100_608
PARAM_ARRAYS = 589
STATE_ARRAYS = 81

# spec §5: parameter totals per group, as module-path patterns (anchored, a path component boundary at the end)
GROUP_PARAMS = {
    r"sequence_encoder": 89_972_992,
    r"sequence_encoder/dna_embedder": 2_999_040,
    r"sequence_encoder/downres_block_0": 7_461_632,
    r"sequence_encoder/downres_block_1": 9_838_336,
    r"sequence_encoder/downres_block_2": 12_542_720,
    r"sequence_encoder/downres_block_3": 15_574_784,
    r"sequence_encoder/downres_block_4": 18_934_528,
    r"sequence_encoder/downres_block_5": 22_621_952,
    r"embed": 3_072,
    r"transformer_tower": 191_801_088,
    r"transformer_tower/mha_block(_\d+)?": 39_890_304,
    r"transformer_tower/mlp_block(_\d+)?": 85_031_424,
    r"transformer_tower/pair_update_block(_\d+)?": 66_867_840,
    r"transformer_tower/attention_bias_block(_\d+)?": 11_520,
    r"sequence_decoder": 111_501_447,
    r"sequence_decoder/up_res_block": 25_969_153,
    r"sequence_decoder/up_res_block_1": 22_723_969,
    r"sequence_decoder/up_res_block_2": 18_855_937,
    r"sequence_decoder/up_res_block_3": 15_348_353,
    r"sequence_decoder/up_res_block_4": 12_201_217,
    r"sequence_decoder/up_res_block_5": 9_414_529,
    r"sequence_decoder/up_res_block_6": 6_988_289,
    r"output_embedder": 4_733_952,
    r"output_embedder_1": 5_905_920,
    r"output_pair": 512,
    r"head": 46_533_630,
    r"head/atac": 2_361_344,
    r"head/dnase": 3_542_016,
    r"head/procap": 1_180_672,
    r"head/cage": 5_903_360,
    r"head/rna_seq": 7_084_032,
    r"head/chip_tf": 10_230_272,
    r"head/chip_histone": 7_082_496,
    r"head/contact_maps": 7_224,
    r"head/splice_sites_classification": 15_370,
    r"head/splice_sites_usage": 2_256_316,
    r"head/splice_sites_junction": 6_870_528,
}
# per-block sizes (spec §5): every one of the repeated tower blocks has the same count
BLOCK_PARAMS = {
    r"transformer_tower/mha_block(_\d+)?": (9, 4_432_256),
    r"transformer_tower/mlp_block(_\d+)?": (9, 9_447_936),
    r"transformer_tower/pair_update_block(_\d+)?": (5, 13_373_568),
    r"transformer_tower/attention_bias_block(_\d+)?": (9, 1_280),
}
# spec §5: var_ema arrays per group
GROUP_STATE_ARRAYS = {
    r"sequence_encoder/dna_embedder": 1,
    r"sequence_encoder/downres_block_\d": 12,
    r"transformer_tower": 45,
    r"transformer_tower/mha_block(_\d+)?": 18,
    r"transformer_tower/mlp_block(_\d+)?": 18,
    r"transformer_tower/attention_bias_block(_\d+)?": 9,
    r"sequence_decoder": 21,
    r"output_embedder(_1)?": 2,
}


def _matcher(pattern: str):
    rx = re.compile(rf"^alphagenome/{pattern}(/|$)")
    return lambda module: bool(rx.match(module))


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def _group_total(tree, pattern) -> int:
    match = _matcher(pattern)
    return sum(_size(s) for m, leaves in tree.items() if match(m) for s in leaves.values())


def _pairs(tree) -> dict[tuple[str, str], tuple[int, ...]]:
    return {(m, n): tuple(getattr(s, "shape", s)) for m, leaves in tree.items() for n, s in leaves.items()}


@pytest.fixture(scope="module")
def full_shapes():
    return layout.official_shapes("full")


@pytest.fixture(scope="module")
def tiny_shapes():
    return layout.official_shapes("tiny")


# ---------------------------------------------------------------------------
# totals (spec §0, §5)
# ---------------------------------------------------------------------------


def test_full_totals(full_shapes):
    params, state = full_shapes
    assert sum(len(v) for v in params.values()) == PARAM_ARRAYS
    assert sum(len(v) for v in state.values()) == STATE_ARRAYS
    assert sum(_size(s) for v in params.values() for s in v.values()) == TOTAL_PARAMS
    assert sum(_size(s) for v in state.values() for s in v.values()) == TOTAL_STATE
    assert layout.count_values(params) == TOTAL_PARAMS
    assert layout.count_values(state) == TOTAL_STATE
    assert all(m.startswith("alphagenome/") or m == "alphagenome" for m in list(params) + list(state))


@pytest.mark.parametrize("pattern", list(GROUP_PARAMS))
def test_full_group_totals(full_shapes, pattern):
    params, _ = full_shapes
    assert _group_total(params, pattern) == GROUP_PARAMS[pattern]


def test_trunk_subtotal(full_shapes):
    params, _ = full_shapes
    trunk = sum(_size(s) for m, v in params.items() if not _matcher("head")(m) for s in v.values())
    assert trunk == 403_918_983


@pytest.mark.parametrize("pattern", list(BLOCK_PARAMS))
def test_full_repeated_blocks(full_shapes, pattern):
    params, _ = full_shapes
    count, each = BLOCK_PARAMS[pattern]
    rx = re.compile(rf"^alphagenome/({pattern})(/|$)")
    blocks: dict[str, int] = {}
    for m, leaves in params.items():
        hit = rx.match(m)
        if hit:
            blocks[hit.group(1)] = blocks.get(hit.group(1), 0) + sum(_size(s) for s in leaves.values())
    assert len(blocks) == count
    assert set(blocks.values()) == {each}


@pytest.mark.parametrize("pattern", list(GROUP_STATE_ARRAYS))
def test_full_state_groups(full_shapes, pattern):
    _, state = full_shapes
    match = _matcher(pattern)
    n = sum(len(leaves) for m, leaves in state.items() if match(m))
    assert n == GROUP_STATE_ARRAYS[pattern]
    for m, leaves in state.items():
        assert set(leaves) == {"var_ema"}, m
        assert m.endswith("rms_batch_norm") or m.endswith("rms_batch_norm_1"), m


def test_state_is_the_rms_batch_norms(full_shapes):
    """Every RMSBatchNorm has a var_ema of its scale's shape; nothing else has state (spec §2, §5)."""
    params, state = full_shapes
    norms = {m for m in params if m.rsplit("/", 1)[-1] in ("rms_batch_norm", "rms_batch_norm_1")}
    assert norms == set(state)
    for m in norms:
        assert state[m]["var_ema"] == params[m]["scale"] == params[m]["offset"]
        shape = state[m]["var_ema"]
        assert shape[:-1] == (1,) * (len(shape) - 1)
        assert len(shape) == (4 if "attention_bias_block" in m else 3), m


# ---------------------------------------------------------------------------
# spec Appendix A
# ---------------------------------------------------------------------------

_ROW = re.compile(r"^\|\s*(param|state)\s*\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|\s*\[([^\]]*)\]\s*\|\s*([\d,]+)\s*\|\s*$")


def _appendix_rows():
    if not SPEC.is_file():
        pytest.skip(f"spec not found at {SPEC}")
    text = SPEC.read_text()
    start = text.find("## Appendix A")
    if start < 0:
        pytest.skip("spec has no Appendix A")
    rows = {"param": {}, "state": {}}
    for line in text[start:].splitlines():
        hit = _ROW.match(line)
        if not hit:
            continue
        kind, module, name, shape, size = hit.groups()
        shape = tuple(int(d) for d in shape.split(",") if d.strip())
        assert _size(shape) == int(size.replace(",", "")), line  # the table is self-consistent
        assert (module, name) not in rows[kind], f"duplicate row {line}"
        rows[kind][(module, name)] = shape
    if not rows["param"]:
        pytest.skip("no parameter rows parsed from Appendix A")
    return rows


def test_appendix_rows_exist_in_full(full_shapes):
    rows = _appendix_rows()
    for kind, tree in zip(("param", "state"), full_shapes, strict=True):
        ours = _pairs(tree)
        missing = sorted(k for k in rows[kind] if k not in ours)
        assert not missing, f"{kind} arrays of the spec missing here: {missing[:10]}"
        wrong = sorted((k, rows[kind][k], ours[k]) for k in rows[kind] if ours[k] != rows[kind][k])
        assert not wrong, f"{kind} shapes differ (key, spec, ours): {wrong[:10]}"


def test_appendix_reverse_direction(full_shapes):
    """Nothing extra here: everywhere the spec's listing is complete (checked by its totals), the sets are equal."""
    rows = _appendix_rows()
    params, state = full_shapes
    spec_params, spec_state = rows["param"], rows["state"]
    ours_p, ours_s = _pairs(params), _pairs(state)
    if len(spec_params) == PARAM_ARRAYS and sum(map(_size, spec_params.values())) == TOTAL_PARAMS:
        assert set(ours_p) == set(spec_params)
    else:  # abbreviated appendix: check each group whose rows add up to the §5 total
        checked = 0
        for pattern, total in GROUP_PARAMS.items():
            match = _matcher(pattern)
            spec_keys = {k for k in spec_params if match(k[0])}
            if sum(_size(spec_params[k]) for k in spec_keys) == total:
                assert {k for k in ours_p if match(k[0])} == spec_keys, pattern
                checked += 1
        assert checked > 0, "no group of Appendix A is complete"
    if len(spec_state) == STATE_ARRAYS and sum(map(_size, spec_state.values())) == TOTAL_STATE:
        assert set(ours_s) == set(spec_state)


def test_matches_reference_shape_dump(full_shapes):
    """Exact equality with a shape dump of the real reference code, when one is on this machine."""
    if not SCRATCH_SHAPES.is_file():
        pytest.skip(f"{SCRATCH_SHAPES} not present")
    dump = json.loads(SCRATCH_SHAPES.read_text())
    as_tuples = lambda tree: {m: {n: tuple(s) for n, s in leaves.items()} for m, leaves in tree.items()}
    params, state = full_shapes
    assert as_tuples(dump["params"]) == params
    assert as_tuples(dump["state"]) == state


# ---------------------------------------------------------------------------
# spec §3 / §4 spot checks of named arrays
# ---------------------------------------------------------------------------

SPOT = {
    ("alphagenome/sequence_encoder/dna_embedder/conv1_d", "w"): (15, 4, 768),
    ("alphagenome/sequence_encoder/dna_embedder/conv1_d", "b"): (768,),
    ("alphagenome/embed", "embeddings"): (2, 1536),
    ("alphagenome/transformer_tower/mha_block_3/q_layer", "w"): (1536, 1024),
    ("alphagenome/transformer_tower/mha_block_3/k_layer", "w"): (1536, 128),
    ("alphagenome/transformer_tower/mha_block_3/v_layer", "w"): (1536, 192),
    ("alphagenome/transformer_tower/mha_block_3/norm_v", "scale"): (192,),
    ("alphagenome/transformer_tower/pair_update_block_4/sequence_to_pair_block", "q_r_bias"): (1, 1, 32, 128),
    ("alphagenome/transformer_tower/pair_update_block_4/sequence_to_pair_block/linear_pos_features", "w"): (64, 4096),
    ("alphagenome/transformer_tower/pair_update_block_4/sequence_to_pair_block/linear_pos_features", "b"): (4096,),
    ("alphagenome/transformer_tower/attention_bias_block_8/linear", "w"): (128, 8),
    ("alphagenome/sequence_decoder/up_res_block_6", "residual_scale"): (),
    ("alphagenome/output_embedder_1/linear_1", "w"): (3072, 1536),
    ("alphagenome/head/splice_sites_junction/pos_donor_logits", "embeddings"): (2, 2 * 367 * 768),
    ("alphagenome/head/splice_sites_usage/multi_organism_linear", "w"): (2, 1536, 734),
}


def test_spot_shapes(full_shapes):
    ours = _pairs(full_shapes[0])
    for key, shape in SPOT.items():
        assert ours.get(key) == shape, key
    assert ("alphagenome/output_embedder_1/linear_1", "b") not in ours  # no bias (spec §3.5)
    assert ("alphagenome/transformer_tower/attention_bias_block/linear", "b") not in ours


def test_head_track_counts(full_shapes):
    params, _ = full_shapes
    for head, tracks in config.HEAD_TRACKS.items():
        if head == "splice_sites_junction":
            continue
        widths = {s["b"][-1] for m, s in params.items() if m.startswith(f"alphagenome/head/{head}/") and "b" in s}
        assert widths == {tracks}, head
    spec = {"atac": 256, "dnase": 384, "procap": 128, "cage": 640, "rna_seq": 768, "chip_tf": 1664,
            "chip_histone": 1152, "contact_maps": 28, "splice_sites_classification": 5, "splice_sites_usage": 734,
            "splice_sites_junction": 367}  # fmt: skip
    assert dict(config.HEAD_TRACKS) == spec


# ---------------------------------------------------------------------------
# flatten / unflatten
# ---------------------------------------------------------------------------


def test_flatten_unflatten_round_trip(tiny_shapes):
    params, state = tiny_shapes
    for tree in (params, state):
        nested = layout.unflatten_collection(tree)
        assert layout.flatten_collection(nested) == tree
    rng = np.random.default_rng(0)
    arrays_p = {m: {n: rng.normal(size=s).astype(np.float32) for n, s in v.items()} for m, v in params.items()}
    arrays_s = {m: {n: rng.normal(size=s).astype(np.float32) for n, s in v.items()} for m, v in state.items()}
    variables = layout.from_official(arrays_p, arrays_s)
    assert set(variables) == {"params", "state"}
    back_p, back_s = layout.to_official(variables)
    assert _pairs(back_p).keys() == _pairs(arrays_p).keys()
    assert _pairs(back_s).keys() == _pairs(arrays_s).keys()
    for m, leaves in arrays_p.items():
        for n, a in leaves.items():
            assert back_p[m][n] is a
    # nested -> flat -> nested
    nested = variables["params"]
    assert layout.unflatten_collection(layout.flatten_collection(nested)) == nested


def test_unflatten_rejects_foreign_root():
    with pytest.raises(KeyError):
        layout.unflatten_collection({"other/embed": {"embeddings": (2, 3)}})


def test_tiny_has_full_architecture(tiny_shapes, full_shapes):
    """Same module paths and names; only widths (and the tower depth) differ."""
    for tiny, full in zip(tiny_shapes, full_shapes, strict=True):
        t, f = _pairs(tiny), _pairs(full)
        assert set(t) <= set(f), sorted(set(t) - set(f))[:10]
        deeper = re.compile(
            r"^alphagenome/transformer_tower/"
            r"((mha_block|mlp_block|attention_bias_block)_[2-8]|pair_update_block_[1-4])(/|$)"
        )
        extra = {k for k in set(f) - set(t)}
        assert all(deeper.match(m) for m, _ in extra), sorted(k for k in extra if not deeper.match(k[0]))[:10]
        for key in t:
            assert len(t[key]) == len(f[key]), key  # same rank everywhere
    assert config.TINY.tower_layers == 2
    # the tiny model keeps every head's track count (junction: 2 x 367 x its smaller width)
    tp, fp = _pairs(tiny_shapes[0]), _pairs(full_shapes[0])
    for (m, n), shape in tp.items():
        if m.startswith("alphagenome/head/") and n in ("b", "learnt_scale") and "splice_sites_junction" not in m:
            assert shape == fp[(m, n)], (m, n)
    width = config.TINY.junction_dim
    assert tp[("alphagenome/head/splice_sites_junction/neg_acceptor_logits", "embeddings")] == (2, 2 * 367 * width)


def test_haiku_sibling_naming(tiny_shapes):
    """Haiku naming: base, base_1, base_2 ... (no base_0)."""
    params, _ = tiny_shapes
    assert not any(re.search(r"(mha_block|mlp_block|attention_bias_block|pair_update_block|up_res_block)_0(/|$)", m)
                   for m in params)  # fmt: skip
    assert any(m.startswith("alphagenome/sequence_encoder/downres_block_0/conv_block/") for m in params)


# ---------------------------------------------------------------------------
# synthetic weights
# ---------------------------------------------------------------------------


def _bytes(tree):
    return {(m, n): a.tobytes() for m, leaves in tree.items() for n, a in leaves.items()}


def test_synthetic_deterministic(tiny_shapes):
    params, state = tiny_shapes
    a, b = synthetic.synthetic_tree(params, 7), synthetic.synthetic_tree(params, 7)
    assert _bytes(a) == _bytes(b)
    other = _bytes(synthetic.synthetic_tree(params, 8))
    for key, raw in _bytes(a).items():
        assert raw != other[key], key
    for m, leaves in a.items():
        for n, arr in leaves.items():
            assert arr.dtype == np.float32 and arr.shape == tuple(params[m][n]) and np.all(np.isfinite(arr))
    s1, s2 = synthetic.synthetic_tree(state, 7), synthetic.synthetic_tree(state, 7)
    assert _bytes(s1) == _bytes(s2)


def test_synthetic_independent_of_order_and_company(tiny_shapes):
    params, _ = tiny_shapes
    forward = synthetic.synthetic_tree(params, 3)
    reversed_tree = {m: dict(reversed(list(v.items()))) for m, v in reversed(list(params.items()))}
    assert _bytes(synthetic.synthetic_tree(reversed_tree, 3)) == _bytes(forward)
    module = "alphagenome/transformer_tower/mha_block_1/q_layer"
    alone = synthetic.synthetic_tree({module: params[module]}, 3)
    assert alone[module]["w"].tobytes() == forward[module]["w"].tobytes()


_M64 = (1 << 64) - 1


def _py_splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _py_uniform(key: str, seed: int, index: int) -> float:
    """The documented generator, in plain Python integers: splitmix64 of (crc32(key), seed, index)."""
    base = ((zlib.crc32(key.encode()) & 0xFFFFFFFF) << 32) | (seed & 0xFFFFFFFF)
    bits = _py_splitmix64((index + _py_splitmix64(base)) & _M64) >> 40
    return bits * 2.0 / (1 << 24) - 1.0


def test_synthetic_values_are_the_documented_hash():
    """A pure function of (key, seed, index), independent of numpy's RNG (so stable across versions)."""
    u = synthetic.hashed_uniform("alphagenome/embed/embeddings", 5, 7)
    assert u.dtype == np.float32 and np.all(u >= -1) and np.all(u < 1)
    assert [float(v) for v in u] == [_py_uniform("alphagenome/embed/embeddings", 5, i) for i in range(7)]
    np.testing.assert_array_equal(synthetic.hashed_uniform("alphagenome/embed/embeddings", 5, 3), u[:3])
    # across the chunk boundary of the vectorised generator
    n = (1 << 22) + 3
    big = synthetic.hashed_uniform("k", 2, n)
    for i in (0, (1 << 22) - 1, 1 << 22, n - 1):
        assert float(big[i]) == _py_uniform("k", 2, i), i


RULES = [
    # (module, name, shape, mean, std)
    ("alphagenome/sequence_decoder/up_res_block/conv_in/rms_batch_norm", "var_ema", (1, 1, 4096), 1.0, 0.5 / math.sqrt(3)),
    ("alphagenome/sequence_decoder/up_res_block/conv_in/rms_batch_norm", "scale", (1, 1, 4096), 1.0, 0.1),
    ("alphagenome/sequence_decoder/up_res_block/conv_in/rms_batch_norm", "offset", (1, 1, 4096), 0.0, 0.05),
    ("alphagenome/sequence_decoder/up_res_block/conv_in/standardized_conv1_d", "scale", (1, 1, 4096), 0.25, 0.05),
    ("alphagenome/transformer_tower/mlp_block/rms_batch_norm_1", "scale", (1, 1, 4096), 0.25, 0.05),
    ("alphagenome/sequence_decoder/up_res_block/conv_in/standardized_conv1_d", "w", (5, 64, 32), 0.0, 1 / math.sqrt(320)),
    ("alphagenome/transformer_tower/mlp_block/linear", "w", (256, 64), 0.0, 1 / 16),
    ("alphagenome/transformer_tower/mlp_block/linear", "b", (8192,), 0.0, 0.05),
    ("alphagenome/head/atac/resolution_1/multi_organism_linear", "w", (2, 400, 16), 0.0, 1 / 20),
    ("alphagenome/head/atac/resolution_1", "learnt_scale", (2, 4096), 1.0, 0.1),
    ("alphagenome/head/splice_sites_junction/pos_donor_logits", "embeddings", (2, 4096), 0.0, 0.1),
    ("alphagenome/transformer_tower/pair_update_block/sequence_to_pair_block", "q_r_bias", (1, 1, 32, 128), 0.0, 0.05),
    ("alphagenome/sequence_decoder/up_res_block", "residual_scale", (), 1.0, 0.1),
]


@pytest.mark.parametrize(("module", "name", "shape", "mean", "std"), RULES)
def test_synthetic_statistics(module, name, shape, mean, std):
    arr = synthetic.synthetic_array(module, name, shape, 0)
    assert arr.shape == shape and arr.dtype == np.float32
    # uniform on [mean - sqrt(3) std, mean + sqrt(3) std]
    half = math.sqrt(3) * std
    assert np.all(arr >= mean - half - 1e-6) and np.all(arr <= mean + half + 1e-6)
    if arr.size >= 1000:
        se = std / math.sqrt(arr.size)
        assert abs(arr.mean() - mean) < 6 * se
        assert abs(arr.std() / std - 1) < 0.05


def test_synthetic_full_size_tree_shapes(full_shapes):
    """Spot-check a full-size array (the junction tables are the largest per module)."""
    module = "alphagenome/head/splice_sites_junction/pos_donor_logits"
    tree = synthetic.synthetic_tree({module: full_shapes[0][module]}, 0)
    arr = tree[module]["embeddings"]
    assert arr.shape == (2, 563_712) and abs(arr.std() - 0.1) < 0.002
