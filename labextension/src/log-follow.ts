/**
 * A running job's log in the panel, pushed by the kernel instead of asked for again every
 * 2 s: the view reads the log's end once (`job.logs`), then asks the kernel to follow it
 * from there (`job.follow`) and appends each pushed `job.output`. Every message says which
 * bytes it carries, so a message already shown is skipped and one that starts past the
 * shown end (more came at once than a message holds) starts the view afresh at its bytes,
 * as "the end of the log". Where the kernel cannot follow (an array item, a rank's own
 * log), its reply says why and the view polls as before.
 */
import { ISignal } from '@lumino/signaling';

import { IFollowReply, IJobLogs, IJobOutput, IMessage } from './protocol';

/** The view keeps at most this many characters of a followed log: its end. */
export const LOG_VIEW_CHARS = 256 * 1024;

/** What the view shows: `text`, bytes `start`..`end` of the log. */
export interface ILogWindow {
  text: string;
  start: number;
  end: number;
  truncated: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The window a `job.logs` reply shows. */
export function windowOf(logs: IJobLogs): ILogWindow {
  const start = logs.start ?? 0;
  const end = logs.size ?? start + encoder.encode(logs.text).length;
  return { text: logs.text, start, end, truncated: logs.truncated };
}

/** `win` with the pushed `out` added: unchanged when `out` brings nothing past its end. */
export function applyOutput(
  win: ILogWindow,
  out: IJobOutput,
  limit = LOG_VIEW_CHARS
): ILogWindow {
  if (out.end <= win.end) {
    return win;
  }
  let { text, start, truncated } = win;
  if (out.offset > win.end) {
    // bytes were left out: show these as the log's end (earlier ones: job.logs 'before')
    text = out.text;
    start = out.offset;
    truncated = true;
  } else if (out.offset === win.end) {
    text += out.text;
  } else {
    text += decoder.decode(encoder.encode(out.text).slice(win.end - out.offset));
  }
  if (text.length > limit) {
    const cut = text.length - limit;
    start += encoder.encode(text.slice(0, cut)).length;
    text = text.slice(cut);
    truncated = true;
  }
  return { text, start, end: out.end, truncated };
}

/** What a follow needs of the kernel link (KernelLink, or a test's stand-in). */
export interface IFollowLink {
  request<T = any>(type: string, data?: Record<string, unknown>): Promise<T>;
  readonly pushed: ISignal<any, IMessage>;
}

/** One followed log: `start` asks the kernel to push it, `stop` asks it to stop. */
export class LogFollow {
  constructor(
    private readonly _link: IFollowLink,
    readonly id: string,
    readonly stream: 'stdout' | 'stderr',
    readonly rank: number,
    private readonly _onOutput: (out: IJobOutput) => void
  ) {}

  /** Follow from byte `offset` (the end the view shows); outputs pushed before the reply
   * are not lost: the view listens first. */
  async start(offset: number): Promise<IFollowReply> {
    this._link.pushed.connect(this._onPushed, this);
    let reply: IFollowReply;
    try {
      reply = await this._link.request<IFollowReply>('job.follow', {
        id: this.id,
        stream: this.stream,
        rank: this.rank,
        offset
      });
    } catch (err) {
      this._link.pushed.disconnect(this._onPushed, this);
      throw err;
    }
    this._following = reply.following; // (stopped meanwhile: stop() unfollows now)
    if (!reply.following || this._stopped) {
      this.stop();
    }
    return reply;
  }

  /** No more outputs; the kernel stops following (it also does when the job ends). */
  stop(): void {
    this._stopped = true;
    this._link.pushed.disconnect(this._onPushed, this);
    if (this._following) {
      this._following = false;
      const data = { id: this.id, stream: this.stream, rank: this.rank };
      this._link.request('job.unfollow', data).catch(() => undefined); // kernel gone: so is the follow
    }
  }

  private _onPushed(_: unknown, message: IMessage): void {
    const out = message.data as IJobOutput | undefined;
    if (
      message.type !== 'job.output' ||
      !out ||
      out.id !== this.id ||
      out.stream !== this.stream ||
      out.rank !== this.rank ||
      this._stopped
    ) {
      return;
    }
    if (out.ended) {
      this._following = false; // the kernel ended this follow itself
    }
    this._onOutput(out);
  }

  private _following = false;
  private _stopped = false;
}
