#!/bin/sh
#SBATCH --job-name=train_model
#SBATCH --output=stdout
#SBATCH --error=stderr
#SBATCH --nodes=2
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=4
#SBATCH --mem=8192M
#SBATCH --time=01:00:00
#SBATCH --gres=gpu:a100:2
#SBATCH --partition=normal
#SBATCH --account=proj1
#SBATCH --qos=high
#SBATCH --constraint=skylake&ib
#SBATCH --dependency=afterok:41:42
#SBATCH --exclusive
#SBATCH --mail-type=END
# clusterlab job 20261123-120000-abcdef (train_model)
JOB_DIR=/home/me/.clusterlab/jobs/20261123-120000-abcdef
cd -- "$JOB_DIR" || exit 97
STATUS=status
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
