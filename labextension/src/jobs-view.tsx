/**
 * Jobs view: every job in the ledger with its state (colour and text), reason, elapsed
 * time, array progress and what it used; filters and a search; Clear finished; Cancel
 * (confirmed while the job runs), Show log and Show result (per item for an array), Copy
 * job id and Insert result.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { JobLog, JobResult } from './job-details';
import {
  arrayProgress,
  elapsedSeconds,
  filterJobs,
  formatElapsed,
  isTerminal,
  profileNames
} from './jobs';
import { PanelModel } from './model';
import { IJob, JOB_STATES } from './protocol';

export interface IJobActions {
  cancel: (id: string) => Promise<void>;
  copyId: (id: string) => void;
  insertResult: (id: string, kind: string) => void;
}

export function JobsView(props: {
  model: PanelModel;
  actions: IJobActions;
}): JSX.Element {
  const { model, actions } = props;
  const [, setTick] = React.useState(0);
  const active = model.activeJobs > 0;
  // A display clock for elapsed times of running jobs (local; no kernel traffic).
  React.useEffect(() => {
    if (!active) {
      return;
    }
    const timer = setInterval(() => setTick(t => t + 1), 1000);
    return () => clearInterval(timer);
  }, [active]);

  const jobs = filterJobs(model.shownJobs, model.filter);
  const finished = model.shownJobs.filter(j => isTerminal(j.state)).length;
  const cleared = model.clearedCount;
  const profiles = profileNames(
    model.jobs,
    model.profiles.map(p => p.name)
  );
  const now = Date.now() / 1000;

  return (
    <div className="jp-clusterlab-jobs">
      <div className="jp-clusterlab-filters">
        <input
          type="search"
          className="jp-clusterlab-search"
          placeholder="Search name or id"
          aria-label="Search jobs by name or id"
          title="Show the jobs whose name, id or scheduler id contains every word typed here"
          value={model.filter.text ?? ''}
          onChange={e => model.setFilter({ ...model.filter, text: e.target.value })}
        />
        <label className="jp-clusterlab-filter">
          <span>State</span>
          <select
            aria-label="Filter jobs by state"
            value={model.filter.state ?? ''}
            onChange={e =>
              model.setFilter({ ...model.filter, state: e.target.value || undefined })
            }
          >
            <option value="">all</option>
            <option value="active">active (pending or running)</option>
            {JOB_STATES.map(s => (
              <option key={s} value={s}>
                {s.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
        <label className="jp-clusterlab-filter">
          <span>Profile</span>
          <select
            aria-label="Filter jobs by profile"
            value={model.filter.profile ?? ''}
            onChange={e =>
              model.setFilter({ ...model.filter, profile: e.target.value || undefined })
            }
          >
            <option value="">all</option>
            {profiles.map(p => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div className="jp-clusterlab-listActions">
        <button
          className="jp-clusterlab-button jp-mod-small"
          disabled={finished === 0}
          title="Hide every finished job from this list (in this browser). The ledger keeps them: cl.jobs(), cl.job(id) and the clusterlab command still find them."
          onClick={() => model.clearFinished()}
        >
          Clear finished{finished ? ` (${finished})` : ''}
        </button>
        {cleared > 0 && (
          <button
            className="jp-clusterlab-button jp-mod-small"
            title="Show the jobs that Clear finished hid"
            onClick={() => model.unclear()}
          >
            Show {cleared} cleared
          </button>
        )}
      </div>
      {model.jobsError && (
        <div className="jp-clusterlab-error" role="alert">
          Could not list jobs: {model.jobsError}
        </div>
      )}
      {jobs.length === 0 ? (
        <div className="jp-clusterlab-empty">
          {model.jobs.length === 0
            ? 'No jobs yet. Run a %%cluster cell or call a @cl.cluster function.'
            : model.shownJobs.length === 0
              ? 'Every job here was cleared: "Show cleared" brings them back.'
              : 'No job matches the filter.'}
        </div>
      ) : (
        <ul className="jp-clusterlab-jobList" aria-label="Jobs">
          {jobs.map(job => (
            <JobRow key={job.id} job={job} now={now} model={model} actions={actions} />
          ))}
        </ul>
      )}
      {model.jobsTotal > model.jobs.length && (
        <div className="jp-clusterlab-muted">
          Showing the newest {model.jobs.length} of {model.jobsTotal} jobs.
        </div>
      )}
    </div>
  );
}

function JobRow(props: {
  job: IJob;
  now: number;
  model: PanelModel;
  actions: IJobActions;
}): JSX.Element {
  const { job, actions } = props;
  const [showLog, setShowLog] = React.useState(false);
  const [showResult, setShowResult] = React.useState(false);
  const [cancelling, setCancelling] = React.useState(false);
  const [error, setError] = React.useState('');
  const progress = arrayProgress(job);
  const elapsed = formatElapsed(elapsedSeconds(job, props.now));
  const terminal = isTerminal(job.state);
  const title = job.name || (job.kind === 'array' ? 'array' : 'job');
  return (
    <li
      className="jp-clusterlab-job"
      data-job-id={job.id}
      data-state={job.state}
      aria-label={`${title} ${job.id}: ${job.state}`}
    >
      <div className="jp-clusterlab-jobHead">
        <span className={`jp-clusterlab-state jp-mod-${job.state.toLowerCase()}`}>
          {job.state}
        </span>
        <span className="jp-clusterlab-jobName">{title}</span>
        <span className="jp-clusterlab-jobId" title={`Job id: ${job.id}`}>
          {job.id}
        </span>
      </div>
      <div className="jp-clusterlab-jobMeta">
        <span>{job.profile}</span>
        {job.native_id ? <span> · #{job.native_id}</span> : null}
        {elapsed ? <span className="jp-clusterlab-elapsed"> · {elapsed}</span> : null}
      </div>
      {job.reason && !progress && (
        // an array's reason is its counts: the progress line says them already
        <div className="jp-clusterlab-reason">{job.reason}</div>
      )}
      {job.usage_text && (
        <div className="jp-clusterlab-usage">
          {job.usage_text}
          {job.usage_hint ? (
            <div className="jp-clusterlab-usageHint">{job.usage_hint}</div>
          ) : null}
        </div>
      )}
      {progress && (
        <div className="jp-clusterlab-progress">
          <progress
            max={progress.total}
            value={progress.done}
            aria-label="Array progress"
          />
          <span className="jp-clusterlab-progressText">{progress.text}</span>
        </div>
      )}
      <div className="jp-clusterlab-jobActions">
        {!terminal && (
          <button
            className="jp-clusterlab-button jp-mod-warn jp-mod-small"
            disabled={cancelling}
            aria-label={`Cancel job ${job.id}`}
            onClick={async () => {
              if (job.state === 'RUNNING' && !(await confirmCancel(job, title))) {
                return;
              }
              setCancelling(true);
              setError('');
              try {
                await actions.cancel(job.id);
              } catch (err) {
                setError((err as Error).message);
              } finally {
                setCancelling(false);
              }
            }}
          >
            {cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
        <button
          className="jp-clusterlab-button jp-mod-small"
          aria-expanded={showLog}
          aria-label={`${showLog ? 'Hide' : 'Show'} log of job ${job.id}`}
          title={job.kind === 'array' ? 'The log of one item (pick it)' : undefined}
          onClick={() => setShowLog(!showLog)}
        >
          {showLog ? 'Hide log' : 'Show log'}
        </button>
        {terminal && (
          <button
            className="jp-clusterlab-button jp-mod-small"
            aria-expanded={showResult}
            aria-label={`${showResult ? 'Hide' : 'Show'} result of job ${job.id}`}
            title="Its value (repr) or, if it failed, its traceback"
            onClick={() => setShowResult(!showResult)}
          >
            {showResult
              ? 'Hide result'
              : job.state === 'FAILED' && job.kind !== 'array'
                ? 'Show traceback'
                : 'Show result'}
          </button>
        )}
        <button
          className="jp-clusterlab-button jp-mod-small"
          aria-label={`Copy job id ${job.id}`}
          onClick={() => actions.copyId(job.id)}
        >
          Copy id
        </button>
        <button
          className="jp-clusterlab-button jp-mod-small"
          aria-label={`Insert the result of job ${job.id} into the notebook`}
          title={`Insert cl.job("${job.id}").${job.kind === 'array' ? 'results' : 'result'}() into the active notebook`}
          onClick={() => actions.insertResult(job.id, job.kind)}
        >
          Insert result
        </button>
      </div>
      {error && (
        <div className="jp-clusterlab-error" role="alert">
          {error}
        </div>
      )}
      {showResult && terminal && <JobResult model={props.model} job={job} />}
      {showLog && <JobLog model={props.model} job={job} running={!terminal} />}
    </li>
  );
}

/** Cancelling a running job throws away its work so far: ask first (JupyterLab's dialog). */
async function confirmCancel(job: IJob, title: string): Promise<boolean> {
  const result = await showDialog({
    title: 'Cancel this running job?',
    body: `${title} ${job.id} is running${job.native_id ? ` (#${job.native_id})` : ''}. Cancelling stops it on the cluster and its work so far is lost.`,
    buttons: [
      Dialog.cancelButton({ label: 'Keep running' }),
      Dialog.warnButton({ label: 'Cancel job' })
    ]
  });
  return result.button.accept;
}
