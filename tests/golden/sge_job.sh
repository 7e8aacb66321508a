#!/bin/sh
#$ -N train_model
#$ -S /bin/sh
#$ -cwd
#$ -w e
#$ -o stdout
#$ -e stderr
#$ -pe mpi-smp 4
#$ -l h_vmem=2304M
#$ -l h_rt=1:00:00
#$ -q all.q
#$ -A proj1
#$ -hold_jid 41,42
#$ -P ml
# clusterlab job 20261123-120000-abcdef (train_model)
JOB_DIR=/home/me/.clusterlab/jobs/20261123-120000-abcdef
cd -- "$JOB_DIR" || exit 97
STATUS=status
# Grid Engine starts this job once the jobs it waits for ended: go on only if
# each succeeded (listing the dir refreshes what a network file system shows)
for mark in /home/me/.clusterlab/jobs/prep/sge-ok /home/me/.clusterlab/jobs/squares/sge-ok.2; do
  tries=0
  until [ -e "$mark" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 5 ]; then
      printf '%s\n' '{"event": "sge-dependency-failed"}' >>"$STATUS"
      echo "clusterlab: not run: a job it waits for did not succeed ($mark is missing)" >&2
      exit 1
    fi
    ls -a -- "${mark%/*}" >/dev/null 2>&1
    sleep 1
  done
done
# -hold_jid waits for jobs to end, not to succeed: a job that succeeds says so
# here; 99 and 100 would be orders to Grid Engine (rerun, error state)
rm -f -- "$JOB_DIR/sge-ok"
trap 'code=$?; [ "$code" -eq 0 ] && : >"$JOB_DIR/sge-ok"; case $code in 99|100) exit 1 ;; esac' EXIT
# profile setup lines
module load python/3.11
case $(command -v -- '/opt/py 3/bin/python' 2>/dev/null) in /*) ;; *)
  printf '%s\n' '{"event": "finished", "outcome": "no_python"}' >> "$STATUS"
  echo "clusterlab: the profile's python command was not found" >&2
  exit 127 ;;
esac
'/opt/py 3/bin/python' -X faulthandler runner.py "$JOB_DIR"
code=$?
printf '{"event": "exit", "code": %d, "time": %s}\n' "$code" "$(date +%s)" >> "$STATUS"
exit "$code"
