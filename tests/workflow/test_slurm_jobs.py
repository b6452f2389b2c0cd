"""Reading a run's Slurm jobs back from ``scontrol show job -o`` output."""

from helpers.slurm_jobs import parse_jobs, rule_of

SCONTROL = (
    "JobId=7 JobName=abc UserId=root(0) WorkDir=/runs/a Comment=rule_predict_batch_wildcards_3 TresPerJob=gres:gpu:1\n"
    "JobId=8 JobName=abc UserId=root(0) WorkDir=/runs/a Comment=rule_plan_windows\n"
    "JobId=9 JobName=xyz UserId=root(0) WorkDir=/runs/b Comment=rule_plan_windows\n"
)


def test_jobs_of_one_run_and_their_rules():
    jobs = parse_jobs(SCONTROL, "/runs/a")
    assert [j["JobId"] for j in jobs] == ["7", "8"]
    assert [rule_of(j) for j in jobs] == ["predict_batch", "plan_windows"]
    assert jobs[0]["TresPerJob"] == "gres:gpu:1" and "TresPerJob" not in jobs[1]
    assert parse_jobs(SCONTROL, "/runs/none") == [] and rule_of({}) == ""
