#!/bin/sh
# A stand-in batch system for snakemake-executor-plugin-cluster-generic that imitates cloud nodes:
#   isolated_job.sh submit JOBSCRIPT  runs the job script in a new, empty folder (no shared working
#                                     directory) in the background and prints that folder as the job id;
#   isolated_job.sh status JOBID      prints running, success or failed.
# Jobs see only what Snakemake deploys (the workflow sources) and fetches from storage.
case "$1" in
submit)
    dir=$(mktemp -d "${GENOTILE_JOB_ROOT:-${TMPDIR:-/tmp}}/job.XXXXXX") || exit 1
    cp "$2" "$dir/jobscript.sh"
    (cd "$dir" && sh "$dir/jobscript.sh" > "$dir/job.log" 2>&1; echo $? > "$dir/exitcode.tmp" && mv "$dir/exitcode.tmp" "$dir/exitcode") \
        < /dev/null > /dev/null 2>&1 &
    echo "$dir"
    ;;
status)
    if [ ! -f "$2/exitcode" ]; then echo running
    elif [ "$(cat "$2/exitcode")" = 0 ]; then echo success
    else echo failed
    fi
    ;;
*)
    echo "usage: $0 submit JOBSCRIPT | status JOBID" >&2
    exit 2
    ;;
esac
