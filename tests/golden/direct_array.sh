#!/bin/sh
# direct: no scheduler; the host queue in <remote_dir>/queue runs this script
# with /bin/sh in its own session, output to stdout/stderr in the job dir,
# as many jobs as the host has cores at once
# array: tasks 0-199, at most 5 at once
# clusterlab job 20261123-120000-abcdef (train_model)
JOB_DIR=/home/me/.clusterlab/jobs/20261123-120000-abcdef
cd -- "$JOB_DIR" || exit 97
TASK="${CLUSTERLAB_TASK}"
STATUS="status.$TASK"
# profile setup lines
module load python/3.11
case $(command -v -- '/opt/py 3/bin/python' 2>/dev/null) in /*) ;; *)
  printf '%s\n' '{"event": "finished", "outcome": "no_python"}' >> "$STATUS"
  echo "clusterlab: the profile's python command was not found" >&2
  exit 127 ;;
esac
timeout -k 5 600 '/opt/py 3/bin/python' -X faulthandler runner.py "$JOB_DIR" "$TASK"
code=$?
printf '{"event": "exit", "code": %d, "time": %s}\n' "$code" "$(date +%s)" >> "$STATUS"
exit "$code"
