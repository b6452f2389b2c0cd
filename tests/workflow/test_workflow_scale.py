"""Running at scale: same bytes whatever the job layout, kill and resume, and re-running only what changed.

These reuse the session's reference demo run (``conftest.demo_run``) and compare whole run folders
byte for byte with :mod:`genotile.runtime.run_digest` (logs and timing records excluded).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BIN, MEMORY_HEAVY, WORKFLOW_INSTALLED, copy_workflow, edit_config, planned_jobs, report, snakemake, snakemake_command, snakemake_env
from helpers.slurm_jobs import jobs_of_run, rule_of

from genotile.runtime.run_digest import compare_digests, digest_run

pytestmark = pytest.mark.slow

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)

TRACK_RULES = {"init_store", "predict_batch", "finalize_store", "export_bigwig", "merge_junctions"}
VARIANT_MODEL_RULES = {"score_shard", "merge_scores", "summarize_variants", "ism"}


def _without(digests: dict[str, str], *prefixes: str) -> dict[str, str]:
    return {path: d for path, d in digests.items() if not path.startswith(prefixes)}


def test_other_job_count_and_batch_sizes_give_the_same_bytes(demo_run, tmp_path):
    """7 windows per job instead of 4, 3 per pass instead of 2, one shard, variant batches of 1, one core."""
    _, run_dir, _ = demo_run
    workdir = copy_workflow(tmp_path / "wf")
    extra = tmp_path / "layout.yaml"
    extra.write_text("tiling: {windows_per_batch: 7}\ninference: {windows_per_pass: 3}\n"
                     "variants: {batch_size: 1, variants_per_shard: 1000}\n")
    run = snakemake(workdir, "--cores", "1", "--configfile", str(extra))
    assert run.returncode == 0, report(run)
    other = workdir / "results" / run_dir.name
    assert len(list((other / "batches").glob("*.done"))) == 2  # 14 windows, 7 per job
    assert len(list((other / "variants" / "demo" / "shards").glob("shard_*.done"))) == 1
    products = digest_run(run_dir, job_layout=False)
    assert len(products) > 100
    assert compare_digests(products, digest_run(other, job_layout=False)) == []


def _job_processes(workdir: Path, script: str) -> list[int]:
    """PIDs of running rule-script processes of this workflow copy (Snakemake runs them as python <tmp>.<script>)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if script in cmdline and "python" in cmdline and Path(cwd) == workdir:
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find the job process")
def test_killed_snakemake_resumes_without_recomputing_finished_batches(demo_run, tmp_path):
    """SIGKILL to Snakemake's whole process group mid-batch (Snakemake and its job die, the lock stays);
    the README's rerun (``make demo`` does the same: ``genotile unlock-stale``, then the same command)
    redoes only the unfinished batches and gives the uninterrupted run's bytes."""
    _, run_dir, _ = demo_run
    workdir = copy_workflow(tmp_path / "wf")
    edit_config(workdir, {"variants": {"cohorts": {}}, "ism": {"regions": {}}, "inference": {"windows_per_pass": 1}})
    args = snakemake_command("--cores", "1")
    batches = workdir / "results" / run_dir.name / "batches"
    proc = subprocess.Popen(args, cwd=workdir, env=snakemake_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    killed = None
    deadline = time.monotonic() + 600
    try:
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            done = list(batches.glob("*.done")) if batches.exists() else []
            logs = list((workdir / "results" / run_dir.name / "logs").glob("predict_batch_*.log"))
            running = [log for log in logs if "windows written" in log.read_text()
                       and not (batches / (log.stem.replace("predict_", "") + ".done")).exists()]
            if done and running and _job_processes(workdir, "predict_batch.py"):  # one batch done, another mid-job
                os.killpg(proc.pid, signal.SIGKILL)
                killed = running[0].stem
            time.sleep(0.2)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert killed, f"never caught an inference job mid-run\n{output[-4000:] if proc.returncode is not None else ''}"
    assert proc.returncode != 0, output[-4000:]
    deadline = time.monotonic() + 30
    while _job_processes(workdir, "predict_batch.py") and time.monotonic() < deadline:
        time.sleep(0.2)  # the killed group's job is gone before the rerun
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in batches.glob("*.done")}
    assert finished and f"{killed.replace('predict_', '')}.done" not in finished
    assert (workdir / ".snakemake" / "locks").is_dir()  # the killed Snakemake could not remove its lock

    unlock = subprocess.run([str(BIN / "genotile"), "unlock-stale"], cwd=workdir, env=snakemake_env(),
                            capture_output=True, text=True)
    assert unlock.returncode == 0 and "removed a stale Snakemake lock" in unlock.stderr, unlock.stderr
    rerun = snakemake(workdir, "--cores", "1")
    assert rerun.returncode == 0, report(rerun)
    total = len(list(batches.glob("*.done")))
    assert planned_jobs(rerun)["predict_batch"] == total - len(finished)  # finished batches were not recomputed
    assert {n: (p.stat().st_ino, p.stat().st_mtime_ns) for n, p in ((n, batches / n) for n in finished)} == finished
    # Bit-identical to the uninterrupted reference run (which also scored variants and ran ISM: compare the track part).
    reference = _without(digest_run(run_dir), "variants/", "annotation/", "ism/")
    assert compare_digests(reference, digest_run(workdir / "results" / run_dir.name)) == []


@pytest.mark.parametrize(
    "override, expected",
    [
        ("inference: {windows_per_pass: 1, threads: 1, mem_mb: 1000}\nvariants: {batch_size: 1}\n", set()),
        ("variants: {top_k: 2}\n", {"summarize_variants"}),
        ("variants: {high_effect_quantile: 0.5}\n", {"summarize_variants"}),
        ("model: {seed: 1}\n", TRACK_RULES | VARIANT_MODEL_RULES),
        ("export: {junction_min_value: 0.2}\n", TRACK_RULES - {"init_store"}),
        ("variants: {max_indel_length: 10}\n", {"normalize_variants", "shard_variants", "merge_scores", "summarize_variants"}),
    ],
    ids=["speed-knobs", "top-k", "quantile", "model-seed", "junction-threshold", "indel-length"],
)
def test_a_changed_setting_reruns_exactly_the_jobs_it_affects(demo_run, tmp_path, override, expected):
    workdir, _, _ = demo_run
    extra = tmp_path / "changed.yaml"
    extra.write_text(override)
    dry = snakemake(workdir, "-n", "--configfile", str(extra))
    assert dry.returncode == 0, report(dry)
    assert set(planned_jobs(dry)) - {"all"} == expected, report(dry)


def test_a_changed_checkpoint_reruns_the_model_jobs_only(tmp_path):
    """Same checkpoint path, new file contents: the prediction jobs re-run; tiling and genome do not."""
    workdir = copy_workflow(tmp_path / "wf")
    checkpoint = tmp_path / "weights"
    made = subprocess.run([str(BIN / "genotile"), "model", "init", "--size", "tiny", "--seed", "0", "--out", str(checkpoint)],
                          env=snakemake_env(), capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    edit_config(workdir, {"model": {"checkpoint": str(checkpoint)}, "tiling": {"contigs": ["demo2"]}, "variants": {"cohorts": {}}})
    run = snakemake(workdir, "--cores", "2")
    assert run.returncode == 0, report(run)
    assert planned_jobs(snakemake(workdir, "-n")) == {}
    weights = max((p for p in checkpoint.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    stamp = weights.stat().st_mtime_ns + 10**9
    os.utime(weights, ns=(stamp, stamp))  # a re-exported or fine-tuned checkpoint at the same path
    dry = snakemake(workdir, "-n")
    assert set(planned_jobs(dry)) - {"all"} == TRACK_RULES | {"ism"}, report(dry)  # ISM runs the model too


def _slurm_unavailable() -> str | None:
    """Why no local Slurm cluster answers (None when one does)."""
    if shutil.which("sinfo") is None:
        return "no Slurm client (sinfo) on this machine; CI starts one with scripts/slurm-local.sh up"
    try:
        state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: no Slurm controller answers (scripts/slurm-local.sh up)"
    if state.returncode != 0 or not ({"idle", "mix", "alloc"} & set(state.stdout.split())):
        return f"no usable Slurm node (sinfo: {state.stdout.strip() or state.stderr.strip()}); scripts/slurm-local.sh up"
    return None


@MEMORY_HEAVY  # up to 8 JAX jobs at once: never beside a full-size model test
@pytest.mark.parametrize("array_jobs", [False, True], ids=["one-job-each", "job-arrays"])
def test_slurm_executor_run_equals_local_run(demo_run, tmp_path, array_jobs):
    """The demo through the real Slurm executor on a local cluster: the same bytes as the local run.

    With ``--slurm-array-jobs`` (the slurm profile's commented option) the ready prediction and
    scoring jobs of a rule go to Slurm as one array each.
    """
    reason = _slurm_unavailable()
    if reason:
        if os.environ.get("GENOTILE_REQUIRE_SLURM"):
            pytest.fail(f"GENOTILE_REQUIRE_SLURM is set but {reason}")
        pytest.skip(reason)
    _, run_dir, _ = demo_run
    workdir = copy_workflow(tmp_path / "wf")
    # --jobs 8: every ready batch (and shard) is selected at once, so each rule's jobs form one array
    arrays = ["--slurm-array-jobs", "predict_batch,score_shard", "--jobs", "8"] if array_jobs else []
    proc = subprocess.Popen(snakemake_command("--profile", "workflow/profiles/slurm-local", *arrays), cwd=workdir,
                            env=snakemake_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=2400)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)  # SIGINT: Snakemake cancels its Slurm jobs (SIGTERM would wait)
        output, _ = proc.communicate(timeout=120)
        pytest.fail(f"the Slurm run did not finish in 40 minutes\n{output[-6000:]}")
    assert proc.returncode == 0, output[-8000:]
    jobs = jobs_of_run(workdir)
    rules = {rule_of(job) for job in jobs}
    assert {"plan_windows", "predict_batch", "score_shard", "summarize_variants"} <= rules, output[-4000:]
    for job in jobs:  # GPUs are requested by the GPU rules only
        wants_gpu = "gpu" in job.get("TresPerJob", "") + job.get("TresPerNode", "")
        assert wants_gpu == (rule_of(job) in {"predict_batch", "score_shard", "ism"}), job
    in_arrays = {rule_of(job) for job in jobs if job.get("ArrayJobId")}
    assert in_arrays == ({"predict_batch", "score_shard"} if array_jobs else set()), output[-4000:]
    assert compare_digests(digest_run(run_dir), digest_run(workdir / "results" / run_dir.name)) == []
