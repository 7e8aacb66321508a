#!/bin/sh
#PBS -N train_model
#PBS -o /dev/null
#PBS -e /dev/null
#PBS -l nodes=1:ppn=4:gpus=1
#PBS -l mem=8192mb
#PBS -l walltime=01:00:00
#PBS -q batch
#PBS -A proj1
#PBS -W depend=afterok:41.pbs01,afterokarray:42[].pbs01
# clusterlab job 20261123-120000-abcdef (train_model)
JOB_DIR=/home/me/.clusterlab/jobs/20261123-120000-abcdef
cd -- "$JOB_DIR" || exit 97
STATUS=status
exec >"stdout" 2>"stderr"
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
