import { describe, expect, it } from 'vitest';

import {
  IEnvEvent,
  KEEP_FAILED_S,
  KEEP_READY_S,
  applyEnvEvents,
  describeBuild
} from '../src/envbuilds';

function step(
  phase: string,
  done: number,
  time: number,
  extra: Partial<IEnvEvent> = {}
): IEnvEvent {
  return {
    profile: 'hpc',
    env: 'a9180b2dabc50152',
    phase,
    done,
    total: 5,
    message: 'installing 3 packages with uv',
    started: 100,
    time,
    ...extra
  };
}

describe('applyEnvEvents', () => {
  it('keeps the latest step of each build, in start order', () => {
    let builds = applyEnvEvents([], [step('lock', 0, 100)], 100);
    builds = applyEnvEvents(
      builds,
      [step('install', 3, 104), step('lock', 0, 90, { env: 'other', started: 90 })],
      104
    );
    expect(builds.map(b => [b.env, b.phase])).toEqual([
      ['other', 'lock'],
      ['a9180b2dabc50152', 'install']
    ]);
    // an older step arriving late does not go back
    builds = applyEnvEvents(builds, [step('wheels', 1, 101)], 105);
    expect(builds[1].phase).toBe('install');
  });

  it('lets a ready build go after a while and keeps a failure longer', () => {
    const ready = applyEnvEvents([], [step('ready', 5, 110)], 110);
    expect(ready).toHaveLength(1);
    expect(applyEnvEvents(ready, [], 110 + KEEP_READY_S + 1)).toEqual([]);
    const failed = applyEnvEvents([], [step('failed', 0, 110)], 110);
    expect(applyEnvEvents(failed, [], 110 + KEEP_READY_S + 1)).toHaveLength(1);
    expect(applyEnvEvents(failed, [], 110 + KEEP_FAILED_S + 1)).toEqual([]);
  });
});

describe('describeBuild', () => {
  it('says the step, the count and the time so far', () => {
    expect(describeBuild(step('install', 3, 104), 112)).toBe(
      'Building environment a9180b2dabc50152 for hpc: install (3/5), ' +
        'installing 3 packages with uv, 12 s'
    );
    expect(describeBuild(step('ready', 5, 107), 200)).toBe(
      'Environment a9180b2dabc50152 for hpc is ready (7 s)'
    );
    expect(
      describeBuild(step('failed', 0, 107, { message: 'no wheel of x==1' }), 200)
    ).toBe('Environment a9180b2dabc50152 for hpc failed: no wheel of x==1');
  });
});
