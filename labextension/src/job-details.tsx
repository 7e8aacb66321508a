/**
 * What a job row opens below itself: its log (stdout/stderr) and its result (the value's
 * repr or the traceback). An array's log and result belong to its items, so both views
 * get an item picker and ask the kernel for `ARRAYID:INDEX`.
 */
import * as React from 'react';

import { formatBytes, isTerminal, itemIndices, rankChoices } from './jobs';
import { applyOutput, ILogWindow, LogFollow, windowOf } from './log-follow';
import { PanelModel } from './model';
import { IJob, IJobResult } from './protocol';

/** The array item the log and the result show (one select for both), or nothing for a
 * plain job. */
export function ItemPicker(props: {
  job: IJob;
  index: number;
  onChange: (index: number) => void;
  tabIndex?: number;
}): JSX.Element | null {
  const { job, index, onChange } = props;
  if (job.kind !== 'array') {
    return null;
  }
  const indices = itemIndices(job);
  return (
    <label className="jp-clusterlab-filter jp-clusterlab-itemPicker">
      <span>Item</span>
      <select
        aria-label="Item: the array item whose log and result to show"
        tabIndex={props.tabIndex}
        value={index}
        onChange={e => onChange(Number(e.target.value))}
      >
        {indices.map(i => (
          <option key={i} value={i}>
            {i}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The id the kernel is asked about: the job's, or the picked item's. */
function targetId(job: IJob, index: number): string {
  return job.kind === 'array' ? `${job.id}:${index}` : job.id;
}

/** The job's (or the picked item's) stdout or stderr: read once, then, while the job
 * runs, pushed by the kernel as it comes (log-follow.ts), or read again every 2 s where
 * the kernel cannot follow it (the note says why). */
export function JobLog(props: {
  model: PanelModel;
  job: IJob;
  index: number;
  running: boolean;
  tabIndex?: number;
}): JSX.Element {
  const { model, job, running, index } = props;
  const [stream, setStream] = React.useState<'stdout' | 'stderr'>('stdout');
  const [rank, setRank] = React.useState(0);
  const [ranks, setRanks] = React.useState(1);
  const [text, setText] = React.useState<string | null>(null);
  const [ended, setEnded] = React.useState(false);
  const [note, setNote] = React.useState('');
  const [live, setLive] = React.useState<'following' | 'polling' | ''>('');
  const id = targetId(job, index);
  React.useEffect(() => setRank(0), [id]);
  React.useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let follow: LogFollow | null = null;
    let why = ''; // why the log is polled, not followed
    setText(null);
    setNote('');
    setLive('');
    const show = (win: ILogWindow) => {
      setText(win.text);
      setNote(
        [win.truncated ? 'showing the end of the log' : '', why]
          .filter(Boolean)
          .join('; ')
      );
    };
    const startFollow = async (win: ILogWindow) => {
      follow = new LogFollow(model.link, id, stream, rank, out => {
        if (out.error) {
          setNote(out.error);
          return;
        }
        win = applyOutput(win, out);
        show(win);
        if (out.ended) {
          setEnded(true);
          setLive('');
        }
      });
      try {
        const reply = await follow.start(win.end);
        if (reply.following) {
          setLive('following');
          return true;
        }
        why = reply.reason ?? '';
      } catch (err) {
        why = `not followed: ${(err as Error).message}`;
      }
      show(win);
      return false;
    };
    const load = async () => {
      try {
        const logs = await model.logs(id, stream, rank);
        if (!alive) {
          return;
        }
        setRanks(logs.ranks ?? 1);
        setEnded(isTerminal(logs.state));
        const win = windowOf(logs);
        show(win);
        if (running && follow === null && !isTerminal(logs.state)) {
          if ((await startFollow(win)) || !alive) {
            return;
          }
        }
      } catch (err) {
        if (alive) {
          setText('');
          setNote((err as Error).message);
        }
      }
      if (alive && running) {
        setLive('polling');
        timer = setTimeout(() => void load(), 2000);
      }
    };
    void load();
    return () => {
      alive = false;
      follow?.stop();
      if (timer !== null) {
        clearTimeout(timer);
      }
    };
  }, [id, stream, rank, running]);
  const choices = rankChoices(ranks);
  const whose = choices.length ? ` of rank ${rank}` : '';
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
            tabIndex={props.tabIndex}
            onClick={() => setStream(s)}
          >
            {s}
          </button>
        ))}
        {choices.length > 0 && (
          <label className="jp-clusterlab-filter jp-clusterlab-rankPicker">
            <span>Rank</span>
            <select
              aria-label="Rank: the task whose log to show"
              tabIndex={props.tabIndex}
              value={rank}
              onChange={e => setRank(Number(e.target.value))}
            >
              {choices.map(c => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </select>
          </label>
        )}
        {running && live && (
          <span className="jp-clusterlab-muted jp-clusterlab-logLive" data-live={live}>
            {live === 'following' ? 'following the output' : 'refreshing every 2 s'}
          </span>
        )}
      </div>
      {note && <div className="jp-clusterlab-muted">{note}</div>}
      <pre
        className="jp-clusterlab-logText"
        aria-label={`${stream}${whose} of job ${id}`}
        tabIndex={props.tabIndex ?? 0}
      >
        {text === null
          ? 'loading…'
          : text ||
            (ended ? `(it printed nothing to ${stream})` : `(no ${stream} yet)`)}
      </pre>
    </div>
  );
}

const OUTCOME_LABEL: Record<IJobResult['outcome'], string> = {
  value: 'Result (repr)',
  error: 'Traceback',
  cancelled: 'No result'
};

/** A finished job's value (bounded repr) or traceback, read once per job or item. A value
 * too large for the kernel to read unasked comes with its size and a "Load" button. */
export function JobResult(props: {
  model: PanelModel;
  job: IJob;
  index: number;
  tabIndex?: number;
}): JSX.Element {
  const { model, job, index } = props;
  const [result, setResult] = React.useState<IJobResult | null>(null);
  const [error, setError] = React.useState('');
  const [loading, setLoading] = React.useState(false);
  const id = targetId(job, index);
  React.useEffect(() => {
    let alive = true;
    setResult(null);
    setError('');
    model.result(id).then(
      data => alive && setResult(data),
      err => alive && setError((err as Error).message)
    );
    return () => {
      alive = false;
    };
  }, [id, job.state]);
  const load = async () => {
    setLoading(true);
    setError('');
    try {
      setResult(await model.result(id, true));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setLoading(false);
    }
  };
  const size = formatBytes(result?.size);
  const unloaded = result !== null && result.loaded === false;
  return (
    <div className="jp-clusterlab-result" data-outcome={result?.outcome ?? ''}>
      <div className="jp-clusterlab-logTabs">
        <span className="jp-clusterlab-resultLabel">
          {result ? (OUTCOME_LABEL[result.outcome] ?? result.outcome) : ''}
        </span>
        {size && result?.outcome === 'value' && (
          <span className="jp-clusterlab-muted jp-clusterlab-resultSize">{size}</span>
        )}
        {result?.truncated && (
          <span className="jp-clusterlab-muted">showing the start</span>
        )}
      </div>
      {error ? (
        <div className="jp-clusterlab-error" role="alert">
          {error}
        </div>
      ) : unloaded ? (
        <div className="jp-clusterlab-resultUnloaded">
          <p>
            The value is {size || 'large'}: it was not loaded, so the panel&apos;s
            kernel does not hold it. Load reads it into that kernel (as much memory as
            the value takes) and shows the start of its repr.
          </p>
          <button
            className="jp-clusterlab-button jp-mod-small"
            tabIndex={props.tabIndex}
            disabled={loading}
            aria-label={`${loading ? 'Loading…' : 'Load'}: result of job ${id} (${size})`}
            onClick={() => void load()}
          >
            {loading ? 'Loading…' : 'Load'}
          </button>
        </div>
      ) : (
        <pre
          className={
            'jp-clusterlab-logText' +
            (result?.outcome === 'error' ? ' jp-clusterlab-traceback' : '')
          }
          aria-label={`result of job ${id}`}
          tabIndex={props.tabIndex ?? 0}
        >
          {result === null ? 'loading…' : result.text}
        </pre>
      )}
    </div>
  );
}
