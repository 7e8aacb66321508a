/**
 * Jobs view: every job in the ledger with its state (colour and text), reason, elapsed
 * time, array progress and what it used; filters and a search; Clear finished; Cancel
 * (confirmed while the job runs), Show log and Show result (per item for an array), Copy
 * job id and Insert result.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { ItemPicker, JobLog, JobResult } from './job-details';
import { Pager } from './jobs-pager';
import {
  arrayProgress,
  elapsedSeconds,
  filterJobs,
  formatElapsed,
  isTerminal,
  profileNames,
  resultActions
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

  const [clearing, setClearing] = React.useState(false);
  const [clearError, setClearError] = React.useState('');
  // Clear finished / Show cleared ask the kernel (the marks are in the ledger).
  const listAction = async (action: () => Promise<void>) => {
    setClearing(true);
    setClearError('');
    try {
      await action();
    } catch (err) {
      setClearError(`Could not change the cleared jobs: ${(err as Error).message}`);
    } finally {
      setClearing(false);
    }
  };

  const jobs = filterJobs(model.shownJobs, model.filter);
  // Counted by the kernel over every page, not just this one.
  const finished = model.finishedCount;
  const cleared = model.clearedCount;
  const profiles = profileNames(model.jobs, [
    ...model.profiles.map(p => p.name),
    ...model.ledgerProfiles
  ]);
  const filtered = Boolean(
    model.filter.text?.trim() || model.filter.state || model.filter.profile
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
          disabled={finished === 0 || clearing}
          title="Hide every finished job from this list, in every browser and kernel (the mark is kept in the job ledger). The ledger keeps the jobs: cl.jobs(), cl.job(id) and the clusterlab command still list them."
          onClick={() => void listAction(() => model.clearFinished())}
        >
          Clear finished{finished ? ` (${finished})` : ''}
        </button>
        {cleared > 0 && (
          <button
            className="jp-clusterlab-button jp-mod-small"
            disabled={clearing}
            title="Show the jobs that Clear finished hid (in every browser)"
            onClick={() => void listAction(() => model.unclear())}
          >
            Show {cleared} cleared
          </button>
        )}
      </div>
      {clearError && (
        <div className="jp-clusterlab-error" role="alert">
          {clearError}
        </div>
      )}
      {model.jobsError && (
        <div className="jp-clusterlab-error" role="alert">
          Could not list jobs: {model.jobsError}
        </div>
      )}
      <Pager model={model} />
      {jobs.length === 0 ? (
        <div className="jp-clusterlab-empty">
          {model.jobs.length > 0 || filtered
            ? 'No job matches the filter.'
            : cleared > 0
              ? 'Every job here was cleared: "Show cleared" brings them back.'
              : 'No jobs yet. Run a %%cluster cell or call a @cl.cluster function.'}
        </div>
      ) : (
        <JobList jobs={jobs} now={now} model={model} actions={actions} />
      )}
    </div>
  );
}

/**
 * The jobs as one Tab stop (a roving tabindex): Tab reaches the current job and its
 * buttons, then leaves the list; Up/Down (Home/End) move between jobs. A long list no
 * longer costs four Tab stops a job to get past.
 */
function JobList(props: {
  jobs: IJob[];
  now: number;
  model: PanelModel;
  actions: IJobActions;
}): JSX.Element {
  const { jobs } = props;
  const [current, setCurrent] = React.useState<string | null>(null);
  const list = React.useRef<HTMLUListElement>(null);
  const currentId = jobs.some(j => j.id === current) ? current : (jobs[0]?.id ?? null);
  const move = (from: string, key: string): boolean => {
    const index = jobs.findIndex(j => j.id === from);
    const target =
      key === 'ArrowDown'
        ? Math.min(index + 1, jobs.length - 1)
        : key === 'ArrowUp'
          ? Math.max(index - 1, 0)
          : key === 'Home'
            ? 0
            : key === 'End'
              ? jobs.length - 1
              : -1;
    if (target < 0) {
      return false;
    }
    const id = jobs[target].id;
    setCurrent(id);
    list.current
      ?.querySelector<HTMLElement>(
        `.jp-clusterlab-job[data-job-id="${CSS.escape(id)}"]`
      )
      ?.focus();
    return true;
  };
  return (
    <ul
      className="jp-clusterlab-jobList"
      aria-label="Jobs (Up and Down move between jobs)"
      ref={list}
    >
      {jobs.map(job => (
        <JobRow
          key={job.id}
          job={job}
          now={props.now}
          model={props.model}
          actions={props.actions}
          current={job.id === currentId}
          onFocusRow={() => setCurrent(job.id)}
          onMove={key => move(job.id, key)}
        />
      ))}
    </ul>
  );
}

function JobRow(props: {
  job: IJob;
  now: number;
  model: PanelModel;
  actions: IJobActions;
  current: boolean;
  onFocusRow: () => void;
  onMove: (key: string) => boolean;
}): JSX.Element {
  const { job, actions, current } = props;
  const [showLog, setShowLog] = React.useState(false);
  const [showResult, setShowResult] = React.useState(false);
  const [item, setItem] = React.useState(0);
  const [cancelling, setCancelling] = React.useState(false);
  const [error, setError] = React.useState('');
  const rowRef = React.useRef<HTMLLIElement>(null);
  const progress = arrayProgress(job);
  const elapsed = formatElapsed(elapsedSeconds(job, props.now));
  const terminal = isTerminal(job.state);
  const title = job.name || (job.kind === 'array' ? 'array' : 'job');
  const offers = resultActions(job);
  // Refused before the scheduler saw it: no files, no log (its reason says why).
  const neverSubmitted =
    job.state === 'FAILED' && job.reason.startsWith('not submitted');
  // Names start with the visible words (WCAG 2.5.3), then say which job.
  const which = `${title} ${job.id}`;
  const tab = current ? 0 : -1;
  const resultShown = showResult && offers.show !== null;
  return (
    <li
      ref={rowRef}
      className="jp-clusterlab-job"
      data-job-id={job.id}
      data-state={job.state}
      aria-label={`${which}: ${job.state}`}
      tabIndex={tab}
      onFocus={props.onFocusRow}
      onKeyDown={e => {
        const inField = (e.target as HTMLElement).closest('select, pre, input');
        if (!inField && props.onMove(e.key)) {
          e.preventDefault();
        }
      }}
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
        {job.attempt_text ? (
          // requeued or retried: "attempt 2 of 3" (the CLI's status shows each run)
          <span className="jp-clusterlab-attempt"> · {job.attempt_text}</span>
        ) : null}
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
            tabIndex={tab}
            aria-label={`${cancelling ? 'Cancelling…' : 'Cancel'}: ${which}`}
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
                // The Cancel button is gone once the job ended: keep focus on its row.
                rowRef.current?.focus();
              }
            }}
          >
            {cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
        {!neverSubmitted && (
          <button
            className="jp-clusterlab-button jp-mod-small"
            tabIndex={tab}
            aria-expanded={showLog}
            aria-label={`${showLog ? 'Hide log' : 'Show log'}: ${which}`}
            title={job.kind === 'array' ? 'The log of one item (pick it)' : undefined}
            onClick={() => setShowLog(!showLog)}
          >
            {showLog ? 'Hide log' : 'Show log'}
          </button>
        )}
        {offers.show !== null && (
          <button
            className="jp-clusterlab-button jp-mod-small"
            tabIndex={tab}
            aria-expanded={resultShown}
            aria-label={`${resultShown ? offers.show.replace('Show', 'Hide') : offers.show}: ${which}`}
            title="Its value (repr) or, if it failed, its traceback"
            onClick={() => setShowResult(!showResult)}
          >
            {resultShown ? offers.show.replace('Show', 'Hide') : offers.show}
          </button>
        )}
        <button
          className="jp-clusterlab-button jp-mod-small"
          tabIndex={tab}
          aria-label={`Copy id: ${which}`}
          onClick={() => actions.copyId(job.id)}
        >
          Copy id
        </button>
        {offers.insert && (
          <button
            className="jp-clusterlab-button jp-mod-small"
            tabIndex={tab}
            aria-label={`Insert result: ${which}`}
            title={`Insert cl.job("${job.id}").${job.kind === 'array' ? 'results' : 'result'}() into the active notebook`}
            onClick={() => actions.insertResult(job.id, job.kind)}
          >
            Insert result
          </button>
        )}
      </div>
      {error && (
        <div className="jp-clusterlab-error" role="alert">
          {error}
        </div>
      )}
      {(showLog || resultShown) && job.kind === 'array' && (
        // one item choice for the log and the result of an array
        <ItemPicker job={job} index={item} onChange={setItem} tabIndex={tab} />
      )}
      {resultShown && (
        <JobResult model={props.model} job={job} index={item} tabIndex={tab} />
      )}
      {showLog && (
        <JobLog
          model={props.model}
          job={job}
          index={item}
          running={!terminal}
          tabIndex={tab}
        />
      )}
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
    ],
    defaultButton: 0 // Enter keeps it running: stopping takes a deliberate choice
  });
  return result.button.accept;
}
