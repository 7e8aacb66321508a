/**
 * Jobs active here but not on the page the panel shows (another page is open, or they
 * are older than the first page): followed by their `job.event`s alone, so their ending
 * is still announced ("job ended" notice) although the list shows one page of the
 * ledger. Bounded: ended jobs are dropped at once and at most OFF_PAGE_MAX are followed.
 */
import { isTerminal, mergeEvents } from './jobs';
import { IJob, IJobEvent } from './protocol';

/** Most active jobs followed off the page for their "job ended" notice. */
export const OFF_PAGE_MAX = 20000;

export class OffPageJobs {
  /** Apply events of jobs not on `page`; the jobs that ended (were followed as active). */
  follow(page: readonly IJob[], events: readonly IJobEvent[], time: number): IJob[] {
    const onPage = new Set(page.map(j => j.id));
    const ended: IJob[] = [];
    for (const event of events) {
      if (!event || typeof event.id !== 'string' || event.id.includes(':')) {
        continue; // array items end with their array, which is announced
      }
      if (onPage.has(event.id)) {
        continue;
      }
      const was = this._jobs.get(event.id);
      const now = mergeEvents(was ? [was] : [], [event], time)[0];
      if (isTerminal(event.state)) {
        if (was) {
          this._jobs.delete(event.id);
          ended.push(now);
        }
      } else if (was || this._jobs.size < OFF_PAGE_MAX) {
        this._jobs.set(event.id, now);
      }
    }
    return ended;
  }

  /**
   * The list goes from `before` to `after` (a refresh or another page): active jobs that
   * left the page are followed from here; followed jobs back on the page are the page's
   * again, and those that ended meanwhile are returned (unless in `announced`).
   */
  pageChanged(
    before: readonly IJob[],
    after: readonly IJob[],
    announced: readonly IJob[]
  ): IJob[] {
    const shown = new Set(after.map(j => j.id));
    for (const job of before) {
      if (!shown.has(job.id) && !isTerminal(job.state) && !job.id.includes(':')) {
        this._jobs.set(job.id, job);
      }
    }
    const ended: IJob[] = [];
    for (const job of after) {
      if (
        this._jobs.delete(job.id) &&
        isTerminal(job.state) &&
        !announced.includes(job)
      ) {
        ended.push(job);
      }
    }
    return ended;
  }

  /** How many jobs are followed off the page. */
  get size(): number {
    return this._jobs.size;
  }

  private readonly _jobs = new Map<string, IJob>();
}
