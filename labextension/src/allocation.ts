/**
 * A cluster kernel's allocation in the notebook's status bar, without the widgets: what
 * to show from a `kernels.remaining` reply, and when to warn that the allocation ends
 * soon (once per kernel job, `warn_before` seconds before its end). Plain TypeScript so
 * it is unit-tested on its own.
 */

/** `kernels.remaining`'s `allocation`. */
export interface IAllocation {
  found: boolean;
  text: string;
  job?: string;
  native_id?: string;
  state?: string;
  reason?: string;
  ends?: number | null;
  left?: number | null;
  warn_before?: number;
}

/** Seconds between asks: the text counts minutes, so once a minute is enough. */
export const REFRESH_MS = 60000;

export interface IAllocationView {
  /** The status bar's text ('' hides the item). */
  text: string;
  /** Its tooltip. */
  title: string;
  /** A warning to show now (once per job), or null. */
  warning: string | null;
}

/** Turns replies into what the status bar shows, remembering which jobs were warned. */
export class AllocationNotes {
  view(profile: string, allocation: IAllocation | null): IAllocationView {
    if (!allocation || !allocation.found) {
      return { text: '', title: '', warning: null };
    }
    const job = allocation.native_id || allocation.job || '';
    const text = `${profile}: ${allocation.text}`;
    const title =
      `The notebook's kernel runs in job ${job} on '${profile}'` +
      (allocation.ends
        ? `; the scheduler ends it at ${new Date(allocation.ends * 1000).toLocaleTimeString()}`
        : '');
    let warning: string | null = null;
    const left = allocation.left;
    const before = allocation.warn_before ?? 600;
    if (typeof left === 'number' && left <= before && !this._warned.has(job)) {
      this._warned.add(job);
      warning =
        `The kernel's allocation on '${profile}' (job ${job}) ends in ` +
        `${Math.max(0, Math.round(left / 60))} min: save your work; ` +
        'the kernel and its variables end with it.';
    }
    return { text, title, warning };
  }

  private readonly _warned = new Set<string>();
}
