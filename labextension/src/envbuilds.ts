/**
 * Environment builds (`environment="sync"`), from the kernel's pushed `env.event`
 * messages: plain state logic (tested in labextension/test/envbuilds.test.ts).
 *
 * A build runs before its job exists in the ledger, so without this the Jobs list shows
 * nothing while a job waits minutes for its environment.
 */

/** One step of a build, as the kernel pushes it (docs/comm-protocol.md, `env.event`). */
export interface IEnvEvent {
  profile: string;
  /** the environment's hash */
  env: string;
  /** lock, wheels, upload, install, ready, or failed */
  phase: string;
  done: number;
  total: number;
  message: string;
  /** seconds since the epoch: when the build started, and this step */
  started: number;
  time: number;
}

/** How long a finished build stays on show, seconds (a failure: long enough to read). */
export const KEEP_READY_S = 10;
export const KEEP_FAILED_S = 300;

function key(e: IEnvEvent): string {
  return `${e.profile}\u0000${e.env}`;
}

/**
 * The builds to show after `events` (latest step per profile and env), in start order;
 * finished ones leave after KEEP_READY_S / KEEP_FAILED_S (`now`, seconds).
 */
export function applyEnvEvents(
  builds: IEnvEvent[],
  events: IEnvEvent[],
  now: number
): IEnvEvent[] {
  const byKey = new Map(builds.map(b => [key(b), b]));
  for (const e of events) {
    const old = byKey.get(key(e));
    if (!old || e.time >= old.time) {
      byKey.set(key(e), e);
    }
  }
  return [...byKey.values()]
    .filter(b => {
      const keep =
        b.phase === 'ready'
          ? KEEP_READY_S
          : b.phase === 'failed'
            ? KEEP_FAILED_S
            : null;
      return keep === null || now - b.time < keep;
    })
    .sort((a, b) => a.started - b.started);
}

/** The line the panel shows for a build. */
export function describeBuild(b: IEnvEvent, now: number): string {
  const took = Math.max(
    0,
    Math.round((b.phase === 'ready' || b.phase === 'failed' ? b.time : now) - b.started)
  );
  if (b.phase === 'ready') {
    return `Environment ${b.env} for ${b.profile} is ready (${took} s)`;
  }
  if (b.phase === 'failed') {
    return `Environment ${b.env} for ${b.profile} failed: ${b.message}`;
  }
  return `Building environment ${b.env} for ${b.profile}: ${b.phase} (${b.done}/${b.total}), ${b.message}, ${took} s`;
}
