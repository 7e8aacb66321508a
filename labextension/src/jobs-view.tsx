/**
 * Jobs view: every job in the ledger with its state (colour and text), reason, elapsed
 * time, array progress and what it used; filters; Cancel, Show log, Copy job id and
 * Insert result.
 */
import * as React from 'react';

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

  const jobs = filterJobs(model.jobs, model.filter);
  const profiles = profileNames(
    model.jobs,
    model.profiles.map(p => p.name)
  );
  const now = Date.now() / 1000;

  return (
    <div className="jp-clusterlab-jobs">
      <div className="jp-clusterlab-filters">
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
      {model.jobsError && (
        <div className="jp-clusterlab-error" role="alert">
          Could not list jobs: {model.jobsError}
        </div>
      )}
      {jobs.length === 0 ? (
        <div className="jp-clusterlab-empty">
          {model.jobs.length === 0
            ? 'No jobs yet. Run a %%cluster cell or call a @cl.cluster function.'
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
        <span className="jp-clusterlab-jobId">{job.id}</span>
      </div>
      <div className="jp-clusterlab-jobMeta">
        <span>{job.profile}</span>
        {job.native_id ? <span> · #{job.native_id}</span> : null}
        {elapsed ? <span className="jp-clusterlab-elapsed"> · {elapsed}</span> : null}
      </div>
      {job.reason && <div className="jp-clusterlab-reason">{job.reason}</div>}
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
        {job.kind !== 'array' && (
          <button
            className="jp-clusterlab-button jp-mod-small"
            aria-expanded={showLog}
            aria-label={`${showLog ? 'Hide' : 'Show'} log of job ${job.id}`}
            onClick={() => setShowLog(!showLog)}
          >
            {showLog ? 'Hide log' : 'Show log'}
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
      {showLog && <JobLog model={props.model} id={job.id} running={!terminal} />}
    </li>
  );
}

/** The job's stdout or stderr, fetched again every 2 s while the job is active. */
function JobLog(props: {
  model: PanelModel;
  id: string;
  running: boolean;
}): JSX.Element {
  const { model, id, running } = props;
  const [stream, setStream] = React.useState<'stdout' | 'stderr'>('stdout');
  const [text, setText] = React.useState<string | null>(null);
  const [note, setNote] = React.useState('');
  React.useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const load = async () => {
      try {
        const logs = await model.logs(id, stream);
        if (!alive) {
          return;
        }
        setText(logs.text);
        setNote(logs.truncated ? 'showing the end of the log' : '');
      } catch (err) {
        if (alive) {
          setNote((err as Error).message);
        }
      }
      if (alive && running) {
        timer = setTimeout(() => void load(), 2000);
      }
    };
    void load();
    return () => {
      alive = false;
      if (timer !== null) {
        clearTimeout(timer);
      }
    };
  }, [id, stream, running]);
  return (
    <div className="jp-clusterlab-log">
      <div className="jp-clusterlab-logTabs" role="group" aria-label="Log stream">
        {(['stdout', 'stderr'] as const).map(s => (
          <button
            key={s}
            className={
              'jp-clusterlab-button jp-mod-small' +
              (s === stream ? ' jp-mod-selected' : '')
            }
            aria-pressed={s === stream}
            onClick={() => setStream(s)}
          >
            {s}
          </button>
        ))}
        {running && (
          <span className="jp-clusterlab-muted">refreshing while the job runs</span>
        )}
      </div>
      {note && <div className="jp-clusterlab-muted">{note}</div>}
      <pre
        className="jp-clusterlab-logText"
        aria-label={`${stream} of job ${id}`}
        tabIndex={0}
      >
        {text === null ? 'loading…' : text || `(no ${stream} yet)`}
      </pre>
    </div>
  );
}
