import { describe, expect, it } from 'vitest';

import { AllocationNotes } from '../src/allocation';
import { clusterOfSpec } from '../src/cluster-kernel';

const RUNNING = {
  found: true,
  job: '20261206-175000-abcdef',
  native_id: '19383',
  state: 'RUNNING',
  reason: '',
  ends: 1800000000,
  left: 3000,
  text: '50 min left',
  warn_before: 600
};

describe('AllocationNotes', () => {
  it('shows nothing for a kernel that is not a cluster kernel', () => {
    const notes = new AllocationNotes();
    expect(notes.view('hpc', { found: false, text: '' })).toEqual({
      text: '',
      title: '',
      warning: null
    });
    expect(notes.view('hpc', null).text).toBe('');
  });

  it('shows the time left, and warns once when the end is near', () => {
    const notes = new AllocationNotes();
    const far = notes.view('hpc', RUNNING);
    expect(far.text).toBe('hpc: 50 min left');
    expect(far.title).toContain('job 19383');
    expect(far.warning).toBeNull();
    const near = notes.view('hpc', { ...RUNNING, left: 540, text: '9 min left' });
    expect(near.warning).toContain('ends in 9 min');
    expect(notes.view('hpc', { ...RUNNING, left: 480 }).warning).toBeNull();
    // a new job (the kernel restarted after its job ended) is warned again
    expect(
      notes.view('hpc', { ...RUNNING, native_id: '19400', left: 300 }).warning
    ).toContain('job 19400');
  });

  it('says a pending job waits', () => {
    const notes = new AllocationNotes();
    const pending = {
      found: true,
      native_id: '7',
      state: 'PENDING',
      ends: null,
      left: null,
      text: 'kernel job pending: waiting for resources'
    };
    const view = notes.view('hpc', pending);
    expect(view.text).toBe('hpc: kernel job pending: waiting for resources');
    expect(view.warning).toBeNull();
  });
});

describe('clusterOfSpec', () => {
  it('tells cluster kernelspecs by their metadata', () => {
    expect(
      clusterOfSpec({
        metadata: { clusterlab: { profile: 'hpc', scheduler: 'slurm' } }
      })
    ).toEqual({ profile: 'hpc', scheduler: 'slurm' });
    expect(clusterOfSpec({ metadata: {} })).toBeNull();
    expect(clusterOfSpec(undefined)).toBeNull();
    expect(clusterOfSpec({ metadata: { clusterlab: 'x' } })).toBeNull();
  });
});
