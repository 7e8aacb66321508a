import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { IMessage, IRequest } from '../src/protocol';
import { RequestError, RequestTracker } from '../src/requests';

function setup(timeout = 1000) {
  const sent: IRequest[] = [];
  const tracker = new RequestTracker(r => sent.push(r), timeout, 'p');
  return { sent, tracker };
}

function reply(
  req: IRequest,
  data: unknown,
  ok = true,
  error?: IMessage['error']
): IMessage {
  return { v: 1, type: `${req.type}.reply`, id: req.id, ok, data, error };
}

describe('RequestTracker', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends versioned requests with unique ids', () => {
    const { sent, tracker } = setup();
    void tracker.request('hello');
    void tracker.request('jobs.list', { limit: 5 });
    expect(sent).toEqual([
      { v: 1, type: 'hello', id: 'p-1', data: {} },
      { v: 1, type: 'jobs.list', id: 'p-2', data: { limit: 5 } }
    ]);
  });

  it('settles each request with the reply carrying its id, in any order', async () => {
    const { sent, tracker } = setup();
    const a = tracker.request('profiles.list');
    const b = tracker.request('jobs.list');
    expect(tracker.handle(reply(sent[1], { jobs: [1] }))).toBe(true);
    expect(tracker.handle(reply(sent[0], { profiles: ['local'] }))).toBe(true);
    await expect(a).resolves.toEqual({ profiles: ['local'] });
    await expect(b).resolves.toEqual({ jobs: [1] });
    expect(tracker.pendingCount).toBe(0);
  });

  it('rejects an ok:false reply with the message and field errors', async () => {
    const { sent, tracker } = setup();
    const p = tracker.request('profiles.save', { profile: { port: 0 } });
    tracker.handle(
      reply(sent[0], undefined, false, {
        message: 'port: must be a number',
        fields: { port: 'must be a number from 1 to 65535, usually 22' }
      })
    );
    const err = await p.catch(e => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err.message).toBe('port: must be a number');
    expect(err.kind).toBe('reply');
    expect(err.fields).toEqual({
      port: 'must be a number from 1 to 65535, usually 22'
    });
  });

  it('times out when no reply comes, and ignores the late reply', async () => {
    const { sent, tracker } = setup(5000);
    const p = tracker.request('job.logs', { id: 'x' });
    const caught = p.catch(e => e);
    vi.advanceTimersByTime(5001);
    const err = await caught;
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain("no reply to 'job.logs'");
    expect(tracker.handle(reply(sent[0], {}))).toBe(false);
  });

  it('per-request timeout 0 waits forever', async () => {
    const { tracker } = setup(10);
    let settled = false;
    void tracker
      .request('profiles.check', {}, { timeout: 0 })
      .finally(() => (settled = true));
    vi.advanceTimersByTime(60_000);
    await Promise.resolve();
    expect(settled).toBe(false);
  });

  it('routes progress messages naming a pending request to its listener', async () => {
    const { sent, tracker } = setup();
    const lines: unknown[] = [];
    const p = tracker.request(
      'profiles.check',
      { name: 'hpc' },
      {
        onProgress: m => lines.push(m.data.line)
      }
    );
    const line = { name: 'connect', ok: true, detail: 'ok' };
    expect(
      tracker.handle({
        v: 1,
        type: 'check.line',
        id: null,
        data: { request: sent[0].id, line }
      })
    ).toBe(true);
    tracker.handle(reply(sent[0], { report: { ok: true } }));
    await p;
    expect(lines).toEqual([line]);
    // After the reply, progress for it is no longer consumed.
    expect(
      tracker.handle({
        v: 1,
        type: 'check.line',
        id: null,
        data: { request: sent[0].id, line }
      })
    ).toBe(false);
  });

  it('leaves pushed events unhandled', () => {
    const { tracker } = setup();
    expect(
      tracker.handle({
        v: 1,
        type: 'job.event',
        id: null,
        data: { events: [], time: 1 }
      })
    ).toBe(false);
    expect(tracker.handle(null as unknown as IMessage)).toBe(false);
  });

  it('rejects everything pending when the comm closes', async () => {
    const { tracker } = setup();
    const a = tracker.request('jobs.list').catch(e => e);
    const b = tracker.request('profiles.list').catch(e => e);
    tracker.rejectAll('the kernel restarted');
    for (const err of [await a, await b]) {
      expect(err.kind).toBe('disconnected');
      expect(err.message).toBe('the kernel restarted');
    }
    expect(tracker.pendingCount).toBe(0);
  });

  it('rejects at once when sending fails', async () => {
    const tracker = new RequestTracker(() => {
      throw new Error('the comm is closed');
    });
    const err = await tracker.request('hello').catch(e => e);
    expect(err.kind).toBe('disconnected');
    expect(err.message).toContain('the comm is closed');
    expect(tracker.pendingCount).toBe(0);
  });
});
