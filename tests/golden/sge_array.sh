#!/bin/sh
#$ -N train_model
#$ -S /bin/sh
#$ -cwd
#$ -w e
#$ -t 1-200
#$ -tc 5
#$ -o /dev/null
#$ -e /dev/null
#$ -l h_rt=0:10:00
# clusterlab job 20261123-120000-abcdef (train_model)
JOB_DIR=/home/me/.clusterlab/jobs/20261123-120000-abcdef
cd -- "$JOB_DIR" || exit 97
TASK="${SGE_TASK_ID}"
STATUS="status.$TASK"
# Grid Engine numbers tasks from 1 (qsub -t 1-N), clusterlab from 0
TASK=$((TASK - 1))
STATUS="status.$TASK"
exec >"stdout.$TASK" 2>"stderr.$TASK"
# -hold_jid waits for jobs to end, not to succeed: a job that succeeds says so
# here; 99 and 100 would be orders to Grid Engine (rerun, error state)
rm -f -- "$JOB_DIR/sge-ok.$TASK"
trap 'code=$?; [ "$code" -eq 0 ] && : >"$JOB_DIR/sge-ok.$TASK"; case $code in 99|100) exit 1 ;; esac' EXIT
# profile setup lines
module load python/3.11
case $(command -v -- '/opt/py 3/bin/python' 2>/dev/null) in /*) ;; *)
  printf '%s\n' '{"event": "finished", "outcome": "no_python"}' >> "$STATUS"
  echo "clusterlab: the profile's python command was not found" >&2
  exit 127 ;;
esac
'/opt/py 3/bin/python' -X faulthandler runner.py "$JOB_DIR" "$TASK"
code=$?
printf '{"event": "exit", "code": %d, "time": %s}\n' "$code" "$(date +%s)" >> "$STATUS"
exit "$code"
