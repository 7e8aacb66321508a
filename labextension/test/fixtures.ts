import { IJob, IJobEvent } from '../src/protocol';

/** A ledger row as the panel receives it: a pending job, unless ``extra`` says otherwise. */
export function job(id: string, extra: Partial<IJob> = {}): IJob {
  return {
    id,
    kind: 'job',
    profile: 'hpc',
    name: 'train',
    state: 'PENDING',
    reason: 'waiting for resources',
    submitted: 100,
    started: null,
    ended: null,
    ...extra
  };
}

/** A job event as the kernel pushes it. */
export function event(
  id: string,
  state: string,
  extra: Partial<IJobEvent> = {}
): IJobEvent {
  return { id, profile: 'hpc', kind: 'job', state, reason: '', ...extra };
}
