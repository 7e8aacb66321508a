#!/bin/sh
#SBATCH --job-name=train_model
#SBATCH --array=0-199%5
#SBATCH --output=stdout.%a
#SBATCH --error=stderr.%a
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=00:10:00
#SBATCH --dependency=afterok:41:42
# clusterlab job 20261123-120000-abcdef (train_model)
JOB_DIR=/home/me/.clusterlab/jobs/20261123-120000-abcdef
cd -- "$JOB_DIR" || exit 97
TASK="${SLURM_ARRAY_TASK_ID}"
STATUS="status.$TASK"
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
