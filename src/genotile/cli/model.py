"""``genotile model``: inspect or create model weights (summary, init, manifest, verify)."""

from __future__ import annotations

import argparse
import re
from collections import defaultdict

import numpy as np

from genotile.cli.common import log


def module_group(module: str) -> str:
    """Summary row of a Haiku module path: repeated tower blocks are pooled, everything else is per block."""
    parts = module.split("/")[1:]
    if parts[0] in ("sequence_encoder", "sequence_decoder", "head"):
        return "/".join(parts[:2])
    if parts[0] == "transformer_tower":
        return "transformer_tower/" + re.sub(r"_\d+$", "", parts[1]) + "*"
    return parts[0]


def model_summary(size: str) -> str:
    """A table of parameter and state counts per module group, with section and grand totals."""
    from genotile.model.config import get_config
    from genotile.model.layout import official_shapes

    cfg = get_config(size)
    params, state = official_shapes(cfg)
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for kind, tree in ((0, params), (1, state)):
        for module, leaves in tree.items():
            row = rows[module_group(module)]
            row[kind] += sum(int(np.prod(s)) for s in leaves.values())
            if kind == 0:
                row[2] += len(leaves)
    sections: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    lines = [f"genotile model '{cfg.name}' (AlphaGenome architecture)", f"{'module group':<48}{'params':>15}{'state':>10}"]
    for group in sorted(rows, key=_group_order):
        p, s, _ = rows[group]
        lines.append(f"  {group:<46}{p:>15,}{s:>10,}")
        section = group.split("/")[0]
        sections[section][0] += p
        sections[section][1] += s
    lines.append("sections:")
    for section, (p, s) in sorted(sections.items(), key=lambda kv: _group_order(kv[0])):
        lines.append(f"  {section:<46}{p:>15,}{s:>10,}")
    total_p = sum(r[0] for r in rows.values())
    total_s = sum(r[1] for r in rows.values())
    n_p = sum(len(v) for v in params.values())
    n_s = sum(len(v) for v in state.values())
    lines.append(f"{'total':<48}{total_p:>15,}{total_s:>10,}")
    lines.append(f"parameters: {total_p:,} values in {n_p} arrays; state: {total_s:,} values in {n_s} arrays")
    return "\n".join(lines)


def _group_order(group: str) -> tuple[int, str]:
    order = ["sequence_encoder", "embed", "transformer_tower", "sequence_decoder", "output_embedder", "output_embedder_1", "output_pair", "head"]
    head = group.split("/")[0]
    return (order.index(head) if head in order else len(order), _natural(group))


def _natural(text: str) -> str:
    return re.sub(r"\d+", lambda m: f"{int(m.group()):04d}", text)


def cmd_summary(args: argparse.Namespace) -> int:
    print(model_summary(args.size))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from genotile.model.checkpoints import save_checkpoint, synthetic_variables, write_official
    from genotile.model.config import get_config
    from genotile.model.layout import to_official

    cfg = get_config(args.size)
    log(f"generating seeded '{cfg.name}' weights (seed {args.seed})")
    variables = synthetic_variables(cfg, args.seed)
    if args.official:
        params, state = to_official(variables)
        path = write_official(args.out, params, state)
    else:
        path = save_checkpoint(args.out, variables, cfg, note=f"synthetic seed {args.seed}; not biologically meaningful")
    print(f"wrote {'official-layout' if args.official else 'genotile'} checkpoint to {path}")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    """Write a checkpoint's per-array checksums once, so later loads and `model verify` catch damage."""
    from genotile.model.checkpoints import write_manifest
    from genotile.runtime.remote_inputs import checkpoint_path

    path, count = write_manifest(checkpoint_path(args.dir), args.out)
    print(f"wrote checksums of {count:,} arrays to {path}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check every array of a checkpoint against its checksums: exit 0 with counts, 2 naming the first bad one."""
    from genotile.model.checkpoints import verify_checkpoint
    from genotile.runtime.remote_inputs import checkpoint_path

    result = verify_checkpoint(checkpoint_path(args.dir), args.manifest)
    print(f"ok: {result.arrays:,} arrays ({result.values:,} values) match the checksums in {result.source}")
    return 0


def register(sub) -> None:
    """Add this group's commands to the ``genotile`` subparsers ``sub``."""
    model = sub.add_parser("model", help="inspect or create model weights").add_subparsers(dest="model_command", required=True)
    summary = model.add_parser("summary", help="parameter and state counts per module group")
    summary.add_argument("--size", choices=["full", "tiny"], default="full")
    summary.set_defaults(func=cmd_summary)
    init = model.add_parser("init", help="write a checkpoint of seeded synthetic weights (tests, demos)")
    init.add_argument("--size", choices=["full", "tiny"], default="tiny")
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--official", action="store_true", help="write the official (params, state) layout instead")
    init.add_argument("--out", required=True)
    init.set_defaults(func=cmd_init)
    manifest = model.add_parser("manifest", help="write a checkpoint's per-array checksums (once, after download)")
    manifest.add_argument("dir", help="checkpoint folder (official or genotile)")
    manifest.add_argument("--out", help="manifest file (default: DIR/genotile-manifest.json)")
    manifest.set_defaults(func=cmd_manifest)
    verify = model.add_parser("verify", help="check every array of a checkpoint against its checksums")
    verify.add_argument("dir", help="checkpoint folder (official or genotile)")
    verify.add_argument("--manifest", help="checksums from `genotile model manifest` (default: a genotile "
                        "checkpoint's built-in ones, else DIR/genotile-manifest.json)")
    verify.set_defaults(func=cmd_verify)
