/**
 * Issue 30 item 2: the panel's list is one page of the ledger. Live events update the
 * page and never grow it past a page; a job's end is still announced when it is not on
 * the page; the request carries the filters so a search finds jobs on any page.
 */
import { describe, expect, it } from 'vitest';

import { listRequest, mergePageEvents, PAGE_SIZE, pageText } from '../src/jobs';
import { OffPageJobs } from '../src/offpage';
import { event, job } from './fixtures';

/** A full page: ids p0 (newest, submitted 1000) .. p99. */
const fullPage = Array.from({ length: PAGE_SIZE }, (_, i) =>
  job(`p${i}`, { submitted: 1000 - i })
);
const first = { offset: 0, size: PAGE_SIZE };

describe('events on a page', () => {
  it('an event for a job of another page does not grow the page', () => {
    const old = event('older', 'RUNNING', { submitted: 5 }); // older than the page
    const out = mergePageEvents(fullPage, [old], 2000, first);
    expect(out.map(j => j.id)).toEqual(fullPage.map(j => j.id));
    const unknownTime = event('reattached', 'RUNNING'); // no submit time known
    expect(mergePageEvents(fullPage, [unknownTime], 2000, first)).toHaveLength(
      PAGE_SIZE
    );
  });

  it('a new job comes to the top of the first page, which stays one page long', () => {
    const fresh = event('new', 'PENDING', { submitted: 1500, name: 'fit' });
    const out = mergePageEvents(fullPage, [fresh], 2000, first);
    expect(out).toHaveLength(PAGE_SIZE);
    expect(out[0]).toMatchObject({ id: 'new', name: 'fit' });
    expect(out[PAGE_SIZE - 1].id).toBe(`p${PAGE_SIZE - 2}`); // the oldest moved on
  });

  it('on a later page new jobs are not added, jobs on it still change', () => {
    const later = { offset: 100, size: PAGE_SIZE };
    const out = mergePageEvents(
      fullPage,
      [event('new', 'PENDING', { submitted: 1500 }), event('p3', 'COMPLETED')],
      2000,
      later
    );
    expect(out.map(j => j.id)).toEqual(fullPage.map(j => j.id));
    expect(out[3].state).toBe('COMPLETED');
  });

  it('a short first page takes any job it does not show', () => {
    const out = mergePageEvents([job('a')], [event('b', 'RUNNING')], 2000, first);
    expect(out.map(j => j.id)).toEqual(['b', 'a']);
  });
});

describe('the pager line', () => {
  it('says which rows of how many', () => {
    expect(pageText({ offset: 100, size: 100 }, 100, 10000)).toBe(
      'Showing 101–200 of 10,000'
    );
    expect(pageText(first, 100, 10000)).toBe('Showing 1–100 of 10,000');
    expect(pageText({ offset: 9900, size: 100 }, 100, 10000)).toBe(
      'Showing 9,901–10,000 of 10,000'
    );
  });

  it('is absent when every job fits on the page', () => {
    expect(pageText(first, 7, 7)).toBe('');
  });
});

describe('the jobs.list request', () => {
  it('carries the page and the filters (the ledger filters every page)', () => {
    expect(listRequest({}, { offset: 200, size: 100 })).toEqual({
      offset: 200,
      limit: 100
    });
    expect(
      listRequest({ state: 'active', profile: 'hpc', text: ' train ' }, first)
    ).toEqual({
      offset: 0,
      limit: 100,
      state: ['SUBMITTING', 'PENDING', 'RUNNING'],
      profile: 'hpc',
      text: 'train'
    });
    expect(listRequest({ state: 'FAILED' }, first).state).toBe('FAILED');
  });
});

describe('jobs followed off the page', () => {
  it('announces the end of an active job that is not on the page', () => {
    const off = new OffPageJobs();
    expect(off.follow(fullPage, [event('x', 'RUNNING', { name: 'fit' })], 10)).toEqual(
      []
    );
    const ended = off.follow(fullPage, [event('x', 'COMPLETED')], 20);
    expect(ended.map(j => [j.id, j.state, j.name])).toEqual([
      ['x', 'COMPLETED', 'fit']
    ]);
    expect(off.size).toBe(0); // dropped once ended
  });

  it('follows an active job that left the page when another page is shown', () => {
    const off = new OffPageJobs();
    const before = [job('a', { state: 'RUNNING' }), job('b', { state: 'COMPLETED' })];
    expect(off.pageChanged(before, fullPage, [])).toEqual([]);
    expect(off.size).toBe(1); // only the active one
    const ended = off.follow(fullPage, [event('a', 'FAILED')], 30);
    expect(ended.map(j => j.id)).toEqual(['a']);
  });

  it('does not announce what it never saw running', () => {
    const off = new OffPageJobs();
    expect(off.follow(fullPage, [event('y', 'COMPLETED')], 10)).toEqual([]);
  });
});
