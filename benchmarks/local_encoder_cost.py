"""XLA's FLOP count of the full encoder vs the local recomputation of an ALT allele (genotile.model.local_encoder).

Nothing is executed: every function is lowered on abstract shapes (``jax.ShapeDtypeStruct``; no weights are
allocated), and the figures are XLA's ``cost_analysis()`` of the compiled function (``--no-compile``: of the
lowered, unoptimised HLO, for sizes whose compile does not fit in memory). Also the whole ALT pass (all heads,
and the 128-bp heads only) with and without the local encoder.

    .venv/bin/python benchmarks/local_encoder_cost.py --size tiny --length 131072
    .venv/bin/python benchmarks/local_encoder_cost.py --size full --length 1048576 --no-compile
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from genotile.model import local_encoder as le
from genotile.model.alphagenome import ALL_OUTPUTS, OutputRequest
from genotile.model.config import get_config, get_precision
from genotile.model.layout import build_model, default_track_means, variable_shapes

REQUESTS = {"all heads": ALL_OUTPUTS, "128-bp heads": OutputRequest(resolutions=(128,), heads=("atac", "dnase", "chip_tf", "chip_histone", "cage"))}


def cost(fn, *args, compile_: bool) -> tuple[float, float]:
    lowered = jax.jit(fn).lower(*args)
    analysis = lowered.compile().cost_analysis() if compile_ else lowered.cost_analysis()
    if isinstance(analysis, list):  # older jax: one dict per computation
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan"))), float(analysis.get("bytes accessed", float("nan")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--length", type=int, default=131072)
    parser.add_argument("--width", type=int, default=1, help="changed bases (1: an SNV)")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--no-compile", action="store_true", help="cost of the lowered HLO, without XLA's compile")
    parser.add_argument("--skip-forward", action="store_true", help="only the encoder figures")
    args = parser.parse_args()
    cfg = get_config(args.size)
    model = build_model(cfg, get_precision(args.precision))
    variables = variable_shapes(cfg)
    dna = jax.ShapeDtypeStruct((1, args.length, 4), jnp.float32)
    org = jax.ShapeDtypeStruct((1,), jnp.int32)
    start = jax.ShapeDtypeStruct((1,), jnp.int32)
    means = default_track_means(cfg)
    ref = jax.eval_shape(lambda v, d: le.encode(model, v, d), variables, dna)
    compile_ = not args.no_compile

    def show(name: str, flops: float, nbytes: float, base: float | None = None) -> None:
        ratio = f"  ({flops / base:.2e} of the full encoder)" if base else ""
        print(f"{name:<44} {flops / 1e9:14,.3f} GFLOP  {nbytes / 1e9:10,.3f} GB accessed{ratio}")

    print(f"model {cfg.name}, {args.length:,} bp, batch 1, {args.precision}, changed width {args.width}, "
          f"{'compiled' if compile_ else 'lowered (unoptimised)'} HLO cost analysis, jax {jax.__version__} on {jax.default_backend()}")
    full_enc = cost(lambda v, d: le.encode(model, v, d), variables, dna, compile_=compile_)
    local_enc = cost(lambda v, r, d, s: le.local_encode(model, v, r, d, s, args.width), variables, ref, dna, start, compile_=compile_)
    show("full encoder", *full_enc)
    show("local encoder", *local_enc, base=full_enc[0])
    if args.skip_forward:
        return
    for label, request in REQUESTS.items():
        full = cost(lambda v, d, o: model.apply(v, d, o, means, request), variables, dna, org, compile_=compile_)
        local = cost(
            lambda v, r, d, s, o: le.local_alt_forward(model, v, r, d, s, args.width, o, means, request),
            variables, ref, dna, start, org, compile_=compile_,
        )  # fmt: skip
        show(f"ALT pass, {label}, full encoder", *full)
        show(f"ALT pass, {label}, local encoder", *local)
        print(f"{'':<44} saved {1 - local[0] / full[0]:.1%} of the ALT pass's FLOPs")


if __name__ == "__main__":
    main()
