/**
 * Request/reply correlation over the comm, with timeouts. Plain TypeScript (no
 * JupyterLab imports) so it is unit-tested on its own.
 */
import { IMessage, IReplyError, IRequest, PROTOCOL_VERSION } from './protocol';

/** A failed request: an `ok: false` reply, a timeout or a lost connection. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly fields: Record<string, string> = {},
    readonly kind: 'reply' | 'timeout' | 'disconnected' = 'reply'
  ) {
    super(message);
    this.name = 'RequestError';
  }

  static fromReply(error: IReplyError | undefined): RequestError {
    return new RequestError(
      error?.message ?? 'the kernel reported an error',
      error?.fields ?? {}
    );
  }
}

export interface IRequestOptions {
  /** Milliseconds to wait for the reply; 0 waits forever. */
  timeout?: number;
  /** Receives the `data` of pushed messages that name this request (`check.line`). */
  onProgress?: (message: IMessage) => void;
}

interface IPending {
  type: string;
  resolve: (data: any) => void;
  reject: (err: RequestError) => void;
  timer: ReturnType<typeof setTimeout> | null;
  onProgress?: (message: IMessage) => void;
}

/**
 * Sends requests through `send` and settles each one's promise when the reply with the
 * same id arrives (`handle`). Pushed messages that are not replies are returned to the
 * caller of `handle` as unhandled.
 */
export class RequestTracker {
  constructor(
    private readonly send: (request: IRequest) => void,
    private readonly defaultTimeout = 60000,
    prefix?: string
  ) {
    this.prefix = prefix ?? Math.random().toString(36).slice(2, 8);
  }

  /** Number of requests still waiting for a reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  request<T = any>(
    type: string,
    data: Record<string, unknown> = {},
    options: IRequestOptions = {}
  ): Promise<T> {
    const id = `${this.prefix}-${++this.counter}`;
    const timeout = options.timeout ?? this.defaultTimeout;
    return new Promise<T>((resolve, reject) => {
      const entry: IPending = {
        type,
        resolve,
        reject,
        timer: null,
        onProgress: options.onProgress
      };
      if (timeout > 0) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(
            new RequestError(
              `no reply to '${type}' from the kernel within ${Math.round(timeout / 1000)} s`,
              {},
              'timeout'
            )
          );
        }, timeout);
      }
      this.pending.set(id, entry);
      try {
        this.send({ v: PROTOCOL_VERSION, type, id, data });
      } catch (err) {
        this.settle(id);
        reject(
          new RequestError(
            `could not send '${type}': ${(err as Error).message}`,
            {},
            'disconnected'
          )
        );
      }
    });
  }

  /**
   * Route one message from the kernel. Returns true when it was a reply to (or progress
   * of) a pending request, false for anything else (pushed events, stale replies).
   */
  handle(message: IMessage): boolean {
    if (!message || typeof message !== 'object') {
      return false;
    }
    if (typeof message.id === 'string' && message.type?.endsWith('.reply')) {
      const entry = this.settle(message.id);
      if (!entry) {
        return false;
      }
      if (message.ok) {
        entry.resolve(message.data ?? {});
      } else {
        entry.reject(RequestError.fromReply(message.error));
      }
      return true;
    }
    const owner = message.data?.request;
    if (typeof owner === 'string') {
      const entry = this.pending.get(owner);
      if (entry?.onProgress) {
        entry.onProgress(message);
        return true;
      }
    }
    return false;
  }

  /** Fail every pending request (the comm closed or the kernel restarted). */
  rejectAll(reason: string): void {
    const entries = [...this.pending.keys()].map(id => this.settle(id));
    for (const entry of entries) {
      entry?.reject(new RequestError(reason, {}, 'disconnected'));
    }
  }

  private settle(id: string): IPending | undefined {
    const entry = this.pending.get(id);
    if (entry) {
      this.pending.delete(id);
      if (entry.timer !== null) {
        clearTimeout(entry.timer);
      }
    }
    return entry;
  }

  private readonly prefix: string;
  private counter = 0;
  private readonly pending = new Map<string, IPending>();
}
