/**
 * Issue 30 item 2, the panel's model: it asks `jobs.list` for one page with the filters,
 * moves between pages, keeps the page one page long under live events, and keeps the
 * "Clear finished (N)" count true between refreshes. A stand-in link answers requests
 * the way the kernel's `jobs.list` does (every job past the page is only counted).
 */
import { Signal } from '@lumino/signaling';
import { describe, expect, it } from 'vitest';

import { PanelModel } from '../src/model';
import { IJob } from '../src/protocol';
import { event, job } from './fixtures';

const TOTAL = 1000;
/** The ledger: ids j0 (newest) .. j999, all RUNNING. */
const ledger: IJob[] = Array.from({ length: TOTAL }, (_, i) =>
  job(`j${i}`, { state: 'RUNNING', submitted: 10000 - i })
);

class FakeLink {
  readonly asked: Record<string, any>[] = [];
  readonly pushed = new Signal<this, any>(this);
  readonly connected = new Signal<this, any>(this);
  readonly changed = new Signal<this, void>(this);
  readonly isStarted = true;
  timeout = 60000;
  hello = null;

  dispose(): void {
    Signal.clearData(this);
  }

  async request(type: string, data: Record<string, any> = {}): Promise<any> {
    if (type !== 'jobs.list') {
      return {};
    }
    this.asked.push(data);
    const offset = Math.min(data.offset ?? 0, TOTAL - 1 - ((TOTAL - 1) % data.limit));
    return {
      jobs: ledger.slice(offset, offset + data.limit),
      total: TOTAL,
      offset,
      cleared: 0,
      finished: 0,
      profiles: ['hpc']
    };
  }

  push(events: unknown[]): void {
    this.pushed.emit({
      v: 1,
      type: 'job.event',
      id: null,
      data: { events, time: 20000 }
    });
  }
}

function model(): [PanelModel, FakeLink] {
  const link = new FakeLink();
  return [new PanelModel(link as any), link];
}

describe('the panel model pages the ledger', () => {
  it('asks for one page and moves to the next and back', async () => {
    const [m, link] = model();
    await m.refreshJobs();
    expect(link.asked.at(-1)).toEqual({ offset: 0, limit: 100 });
    expect(m.jobs.map(j => j.id)).toEqual(ledger.slice(0, 100).map(j => j.id));
    expect(m.jobsTotal).toBe(TOTAL);
    await m.nextPage();
    expect(m.page.offset).toBe(100);
    expect(m.jobs[0].id).toBe('j100');
    await m.previousPage();
    expect(m.jobs[0].id).toBe('j0');
    await m.showPage(50000); // past the end: the kernel answers the last page
    expect(m.page.offset).toBe(900);
  });

  it('events for jobs of other pages never grow the page', async () => {
    const [m, link] = model();
    await m.refreshJobs();
    link.push(
      ledger
        .slice(100, 600)
        .map(j => event(j.id, 'COMPLETED', { submitted: j.submitted }))
    );
    expect(m.jobs).toHaveLength(100);
    expect(m.jobs.every(j => j.state === 'RUNNING')).toBe(true);
  });

  it('counts jobs that end on the page or off it for "Clear finished"', async () => {
    const [m, link] = model();
    await m.refreshJobs();
    expect(m.finishedCount).toBe(0);
    link.push([event('j3', 'COMPLETED')]); // on the page
    expect(m.finishedCount).toBe(1);
    await m.nextPage(); // j0..j99 leave the page while running: followed off it
    const listed = m.finishedCount; // what the kernel counted
    link.push([event('j5', 'FAILED')]);
    expect(m.finishedCount).toBe(listed + 1);
  });

  it('a filter is asked of the ledger from the first page', async () => {
    const [m, link] = model();
    await m.showPage(300);
    m.setFilter({ state: 'active', profile: 'hpc' });
    await new Promise(resolve => setTimeout(resolve, 20));
    expect(link.asked.at(-1)).toEqual({
      offset: 0,
      limit: 100,
      state: ['SUBMITTING', 'PENDING', 'RUNNING'],
      profile: 'hpc'
    });
    m.dispose();
  });
});
