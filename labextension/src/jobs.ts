/**
 * The job list's state logic: merging pushed events into the ledger rows, filters and
 * the text shown for elapsed time and array progress. Plain TypeScript, unit-tested.
 */
import { IJob, IJobEvent, JOB_STATES } from './protocol';

export const TERMINAL_STATES = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'LOST'
]);

export function isTerminal(state: string): boolean {
  return TERMINAL_STATES.has(state);
}

/** Not started yet: being submitted, or waiting in the queue. */
export function isWaiting(state: string): boolean {
  return state === 'SUBMITTING' || state === 'PENDING';
}

/**
 * Apply a `job.event` batch to the list (returns a new array; rows are replaced, never
 * mutated). `time` is the kernel's clock for the batch: it fills `started`/`ended` when a
 * row learns it started or finished before the next `jobs.list` refresh brings the
 * ledger's own times. Unknown jobs are added at the top (newest first), except array
 * items (`ARRAY:INDEX`) whose array is listed: arrays report their items as counts.
 */
export function mergeEvents(
  jobs: readonly IJob[],
  events: readonly IJobEvent[],
  time: number
): IJob[] {
  const byId = new Map<string, number>();
  jobs.forEach((job, i) => byId.set(job.id, i));
  const out = jobs.slice();
  const added: IJob[] = [];
  for (const event of events) {
    if (!event || typeof event.id !== 'string') {
      continue;
    }
    const index = byId.get(event.id);
    if (index === undefined) {
      const parent = event.id.includes(':') ? event.id.split(':')[0] : null;
      if (parent !== null && byId.has(parent)) {
        continue;
      }
      const job: IJob = {
        id: event.id,
        kind: event.kind,
        profile: event.profile,
        name: event.name ?? '',
        state: event.state,
        reason: event.reason ?? '',
        native_id: event.native_id ?? '',
        submitted: event.submitted ?? time,
        started: isWaiting(event.state) ? null : time,
        ended: isTerminal(event.state) ? time : null,
        counts: event.counts,
        size: event.counts ? sumCounts(event.counts) : 1
      };
      byId.set(job.id, out.length + added.length);
      added.push(job);
      continue;
    }
    const old = index < out.length ? out[index] : added[index - out.length];
    const next: IJob = {
      ...old,
      state: event.state,
      reason: event.reason ?? old.reason
    };
    if (event.native_id) {
      next.native_id = event.native_id;
    }
    if (event.name && !old.name) {
      next.name = event.name;
    }
    if (event.counts) {
      next.counts = event.counts;
    }
    if (event.attempt_text) {
      next.attempt_text = event.attempt_text;
    }
    if (event.usage_text) {
      next.usage_text = event.usage_text;
      next.usage_hint = event.usage_hint ?? '';
    }
    const unstarted = old.started === null || old.started === undefined;
    if (!isWaiting(event.state) && unstarted) {
      next.started = time;
    }
    if (isTerminal(event.state) && !old.ended) {
      next.ended = time;
    }
    if (!isTerminal(event.state)) {
      next.ended = null;
    }
    if (index < out.length) {
      out[index] = next;
    } else {
      added[index - out.length] = next;
    }
  }
  return [...added.reverse(), ...out];
}

/** Which page of the ledger the list shows: `offset` rows skipped, `size` at most. */
export interface IJobPage {
  offset: number;
  size: number;
}

/** Jobs a panel shows per page: enough to scroll, few enough to draw at once. */
export const PAGE_SIZE = 100;

/**
 * Apply a `job.event` batch to one page of the list. Events update the jobs on the page;
 * a job not on it is added (at the top) only on the first page and only when it belongs
 * there: submitted no earlier than the page's oldest row, or the page is not full. So an
 * event for a job on another page (10,000 live jobs report all the time) never grows
 * the page, and the page never holds more than `size` rows.
 */
export function mergePageEvents(
  jobs: readonly IJob[],
  events: readonly IJobEvent[],
  time: number,
  page: IJobPage
): IJob[] {
  const known = new Set(jobs.map(j => j.id));
  const oldest = jobs.length
    ? Math.min(...jobs.map(j => j.submitted ?? time))
    : -Infinity;
  const belongs = (event: IJobEvent): boolean =>
    page.offset === 0 &&
    (jobs.length < page.size ||
      (typeof event.submitted === 'number' && event.submitted >= oldest));
  const kept = events.filter(e => e && (known.has(e.id) || belongs(e)));
  return mergeEvents(jobs, kept, time).slice(0, page.size);
}

/**
 * A fresh `jobs.list` reply replaces the list; events that arrived while it was in
 * flight are applied on top, since the ledger read may predate them.
 */
export function replaceJobs(
  fresh: readonly IJob[],
  eventsSinceRequest: readonly IJobEvent[],
  time: number,
  page: IJobPage = { offset: 0, size: Infinity }
): IJob[] {
  return mergePageEvents(fresh, eventsSinceRequest, time, page);
}

/** The "Showing 101–200 of 10,000" line ('' when every job fits on one page). */
export function pageText(page: IJobPage, shown: number, total: number): string {
  if (total <= shown && page.offset === 0) {
    return '';
  }
  const fmt = (n: number) => n.toLocaleString('en-US');
  if (shown === 0) {
    return '';
  }
  return `Showing ${fmt(page.offset + 1)}–${fmt(page.offset + shown)} of ${fmt(total)}`;
}

export interface IJobFilter {
  state?: string;
  profile?: string;
  /** Words that must all appear in the job's name or id (case-insensitive). */
  text?: string;
}

/** What `jobs.list` is asked for a filter: the ledger filters and counts every job, so
 * a search or a state finds jobs on any page (`filterJobs` then applies it to live
 * changes on the page at once). */
export function listRequest(
  filter: IJobFilter,
  page: IJobPage
): Record<string, unknown> {
  const data: Record<string, unknown> = { offset: page.offset, limit: page.size };
  if (filter.state) {
    data.state =
      filter.state === 'active'
        ? [...JOB_STATES].filter(s => !isTerminal(s))
        : filter.state;
  }
  if (filter.profile) {
    data.profile = filter.profile;
  }
  if (filter.text?.trim()) {
    data.text = filter.text.trim();
  }
  return data;
}

/** `state` may be a state name or 'active' (SUBMITTING, PENDING or RUNNING); `text`
 * searches names and ids (also the scheduler's id). */
export function filterJobs(jobs: readonly IJob[], filter: IJobFilter): IJob[] {
  const words = (filter.text ?? '').toLowerCase().split(/\s+/).filter(Boolean);
  return jobs.filter(job => {
    if (words.length) {
      const hay = `${job.name} ${job.id} ${job.native_id ?? ''}`.toLowerCase();
      if (!words.every(w => hay.includes(w))) {
        return false;
      }
    }
    if (filter.profile && job.profile !== filter.profile) {
      return false;
    }
    if (filter.state) {
      if (filter.state === 'active') {
        return !isTerminal(job.state);
      }
      return job.state === filter.state;
    }
    return true;
  });
}

/** Seconds the job has been running (or ran), or null before it started. */
export function elapsedSeconds(job: IJob, now: number): number | null {
  if (job.started === null || job.started === undefined) {
    return null;
  }
  const end = job.ended ?? now;
  return Math.max(0, end - job.started);
}

/** '45s', '12m 03s', '3h 04m', '2d 05h'. */
export function formatElapsed(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) {
    return '';
  }
  const s = Math.floor(seconds);
  if (s < 60) {
    return `${s}s`;
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) {
    return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  }
  return `${Math.floor(s / 86400)}d ${pad(Math.floor((s % 86400) / 3600))}h`;
}

export function sumCounts(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + (Number(b) || 0), 0);
}

/** Array progress: finished items, total and a per-state text in lifecycle order. */
export function arrayProgress(job: IJob): {
  done: number;
  total: number;
  text: string;
} | null {
  if (job.kind !== 'array' || !job.counts) {
    return null;
  }
  const counts = job.counts;
  const total = Math.max(job.size ?? 0, sumCounts(counts));
  let done = 0;
  for (const [state, n] of Object.entries(counts)) {
    if (isTerminal(state)) {
      done += n;
    }
  }
  const order = [
    ...JOB_STATES,
    ...Object.keys(counts).filter(s => !JOB_STATES.includes(s as any))
  ];
  const parts = order
    .filter(state => counts[state])
    .map(state => `${counts[state]} ${state.toLowerCase()}`);
  return {
    done,
    total,
    text: `${done}/${total} done` + (parts.length ? ` (${parts.join(', ')})` : '')
  };
}

/** Profiles named by jobs and profiles, sorted, for the filter menu. */
export function profileNames(
  jobs: readonly IJob[],
  extra: readonly string[] = []
): string[] {
  return [...new Set([...extra, ...jobs.map(j => j.profile)])].filter(Boolean).sort();
}

/** The Python a person runs to get a job's result in a notebook (an array has one per
 * item: ``results()``). */
export function resultSnippet(id: string, kind: string = 'job'): string {
  const call = kind === 'array' ? 'results()' : 'result()';
  return `import clusterlab as cl\ncl.job(${JSON.stringify(id)}).${call}`;
}

/**
 * Jobs that were active in `before` and have ended in `after` (for the "a job ended"
 * notification). Jobs new to `after` count only if `before` was not empty: the first
 * listing after a page load announces nothing.
 */
export function newlyEnded(before: readonly IJob[], after: readonly IJob[]): IJob[] {
  const old = new Map(before.map(j => [j.id, j.state]));
  return after.filter(job => {
    const was = old.get(job.id);
    return was !== undefined && !isTerminal(was) && isTerminal(job.state);
  });
}

/** The sentence a notification says for an ended job. */
export function endedMessage(job: IJob): string {
  const what = `${job.name || (job.kind === 'array' ? 'array' : 'job')} ${job.id}`;
  const progress = arrayProgress(job);
  const detail = progress ? `: ${progress.text}` : job.reason ? `: ${job.reason}` : '';
  return `${what} ended ${job.state}${detail}`;
}

/** A size in bytes as people read it: '812 B', '2.9 MB', '1.2 GB' (powers of 1024, as
 * the usage line says memory and resource requests are written). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) {
    return '';
  }
  if (bytes < 1024) {
    return `${Math.round(bytes)} B`;
  }
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Item indices of an array row, for the log and result pickers. */
/** The ranks a log view offers: none (no picker) for a job of one task, else 0..ranks-1,
 * rank 0 named as the job's own log (what `job.stdout()` shows). */
export function rankChoices(ranks: number): { value: number; label: string }[] {
  if (!(ranks > 1)) {
    return [];
  }
  return Array.from({ length: ranks }, (_, r) => ({
    value: r,
    label: r === 0 ? 'rank 0 (the job’s)' : `rank ${r}`
  }));
}

export function itemIndices(job: IJob): number[] {
  const total = Math.max(job.size ?? 0, job.counts ? sumCounts(job.counts) : 0);
  return Array.from({ length: total }, (_, i) => i);
}

/** Which of "Show result" / "Insert result" a job offers: only what it has. A FAILED job
 * has a traceback (no value to insert); a CANCELLED, TIMEOUT or LOST one has neither (its
 * reason says why); an array has results per item once any item completed. */
export function resultActions(job: IJob): { show: string | null; insert: boolean } {
  if (!isTerminal(job.state)) {
    return { show: null, insert: false };
  }
  if (job.kind === 'array') {
    const some = (job.counts?.COMPLETED ?? 0) > 0 || job.state === 'COMPLETED';
    const failed = (job.counts?.FAILED ?? 0) > 0;
    return { show: some || failed ? 'Show result' : null, insert: some };
  }
  if (job.state === 'COMPLETED') {
    return { show: 'Show result', insert: true };
  }
  if (job.state === 'FAILED' && !job.reason.startsWith('not submitted')) {
    return { show: 'Show traceback', insert: false };
  }
  return { show: null, insert: false };
}
