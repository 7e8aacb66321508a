import { Signal } from '@lumino/signaling';
import { describe, expect, it } from 'vitest';

import { applyOutput, ILogWindow, LogFollow, windowOf } from '../src/log-follow';
import { IJobOutput, IMessage } from '../src/protocol';

function out(
  offset: number,
  text: string,
  extra: Partial<IJobOutput> = {}
): IJobOutput {
  const end = offset + new TextEncoder().encode(text).length;
  return {
    id: 'j',
    stream: 'stdout',
    rank: 0,
    offset,
    end,
    text,
    ended: false,
    ...extra
  };
}

const empty: ILogWindow = { text: '', start: 0, end: 0, truncated: false };

describe('applyOutput', () => {
  it('appends each new range once, in order, counting bytes not characters', () => {
    let win = windowOf({
      id: 'j',
      stream: 'stdout',
      rank: 0,
      ranks: 1,
      text: 'héllo\n',
      start: 0,
      size: 7,
      truncated: false,
      state: 'RUNNING'
    });
    win = applyOutput(win, out(7, 'line 1\n'));
    win = applyOutput(win, out(7, 'line 1\n')); // the same message again: skipped
    win = applyOutput(win, out(14, 'line 2\n'));
    expect(win).toEqual({
      text: 'héllo\nline 1\nline 2\n',
      start: 0,
      end: 21,
      truncated: false
    });
  });

  it('keeps only the new part of an overlapping range', () => {
    const win = applyOutput({ ...empty, text: 'ab', end: 2 }, out(1, 'bcd'));
    expect(win.text).toBe('abcd');
    expect(win.end).toBe(4);
  });

  it('starts afresh, as the end of the log, at a range past the shown end', () => {
    const win = applyOutput({ ...empty, text: 'ab', end: 2 }, out(100, 'tail'));
    expect(win).toEqual({ text: 'tail', start: 100, end: 104, truncated: true });
  });

  it('keeps the end of a log longer than the view holds', () => {
    const win = applyOutput({ ...empty, text: 'abc', end: 3 }, out(3, 'defg'), 4);
    expect(win).toEqual({ text: 'defg', start: 3, end: 7, truncated: true });
  });
});

class FakeLink {
  readonly pushed = new Signal<this, IMessage>(this);
  readonly sent: [string, Record<string, unknown>][] = [];
  following = true;
  async request<T>(type: string, data: Record<string, unknown> = {}): Promise<T> {
    this.sent.push([type, data]);
    if (type === 'job.follow') {
      // a push that overtakes the reply is still shown
      this.push(out(5, 'early'));
      return { ...data, following: this.following, reason: 'why not' } as T;
    }
    return { stopped: 1 } as T;
  }
  push(data: IJobOutput): void {
    this.pushed.emit({ v: 1, type: 'job.output', id: null, data });
  }
}

describe('LogFollow', () => {
  it('follows from the offset shown, takes only its own log, and unfollows on stop', async () => {
    const link = new FakeLink();
    const got: string[] = [];
    const follow = new LogFollow(link, 'j', 'stdout', 0, o => got.push(o.text));
    const reply = await follow.start(5);
    expect(reply.following).toBe(true);
    link.push(out(10, 'other stream', { stream: 'stderr' }));
    link.push(out(10, 'other job', { id: 'k' }));
    link.push(out(10, 'more'));
    follow.stop();
    link.push(out(14, 'after stop'));
    expect(got).toEqual(['early', 'more']);
    expect(link.sent).toEqual([
      ['job.follow', { id: 'j', stream: 'stdout', rank: 0, offset: 5 }],
      ['job.unfollow', { id: 'j', stream: 'stdout', rank: 0 }]
    ]);
  });

  it('sends no unfollow for a follow the kernel refused or ended itself', async () => {
    const link = new FakeLink();
    link.following = false;
    const refused = new LogFollow(link, 'j', 'stdout', 0, () => undefined);
    expect((await refused.start(0)).reason).toBe('why not');
    refused.stop();
    link.following = true;
    const ended = new LogFollow(link, 'j', 'stdout', 0, () => undefined);
    await ended.start(0);
    link.push(out(10, 'last', { ended: true }));
    ended.stop();
    expect(link.sent.map(s => s[0])).toEqual(['job.follow', 'job.follow']);
  });
});
