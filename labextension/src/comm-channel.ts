/**
 * The `clusterlab` comm on one kernel: open it, say hello, load the extension silently
 * into a kernel that lacks the comm target, send requests and route pushed messages.
 * Which kernel to talk to is kernel.ts's job; this file knows nothing of notebooks.
 */
import { Kernel, KernelMessage } from '@jupyterlab/services';

import { COMM_TARGET, IHello, IMessage, PROTOCOL_VERSION } from './protocol';
import { IRequestOptions, RequestError, RequestTracker } from './requests';

/**
 * What the panel runs in a kernel that lacks the comm target: the `%%cluster` magic and
 * the comm, without `%load_ext` (which would mark the extension loaded, so the user's own
 * `%load_ext clusterlab`, as the docs say, printed "already loaded"). Binds no names.
 */
export const LOAD_CODE = "__import__('clusterlab')._load_for_panel(get_ipython())";
/** What a person would type for the same, in error messages. */
const LOAD_TEXT = '%load_ext clusterlab';

export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  message: string
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What the channel tells its owner. */
export interface IChannelHandlers {
  /** A message that is not the reply to a request (`job.event`, ...). */
  onPush: (message: IMessage) => void;
  /** The kernel closed the comm (called for a channel not yet open too). */
  onClose: (channel: CommChannel) => void;
}

/** One open `clusterlab` comm and the requests waiting for its replies. */
export class CommChannel {
  private constructor(
    private readonly _comm: Kernel.IComm,
    private readonly _tracker: RequestTracker,
    /** The kernel's `hello` reply: its protocol, schema and schedulers. */
    readonly hello: IHello
  ) {}

  /**
   * Open the comm and say hello; null when the kernel closed it (no such target).
   * Rejects when the kernel answers wrongly or not at all.
   */
  static async open(
    kernel: Kernel.IKernelConnection,
    timeout: number,
    handlers: IChannelHandlers
  ): Promise<CommChannel | null> {
    const comm = kernel.createComm(COMM_TARGET);
    const tracker = new RequestTracker(data => {
      if (comm.isDisposed) {
        throw new Error('the comm is closed');
      }
      comm.send(data as any);
    }, timeout);
    let closed = false;
    let channel: CommChannel | null = null;
    comm.onMsg = msg => {
      const data = msg.content.data as unknown as IMessage;
      if (!tracker.handle(data)) {
        handlers.onPush(data);
      }
    };
    comm.onClose = () => {
      closed = true;
      tracker.rejectAll('the kernel closed the clusterlab comm');
      if (channel) {
        handlers.onClose(channel);
      }
    };
    // JupyterLab sends comm messages over a kernel subshell (JEP 91) when the kernel
    // supports it, so requests are served while a cell runs; open the comm only once
    // that subshell exists, or the first messages go to the (possibly busy) main shell.
    const started = (comm as Partial<{ subshellStarted: Promise<void> }>)
      .subshellStarted;
    if (kernel.supportsSubshells && started) {
      await Promise.race([
        started.catch(() => undefined),
        new Promise(resolve => setTimeout(resolve, 10000))
      ]);
    }
    if (comm.isDisposed) {
      return null;
    }
    comm.open({});
    try {
      const hello = await tracker.request<IHello>('hello', {}, { timeout: 30000 });
      channel = new CommChannel(comm, tracker, hello);
      return channel;
    } catch (err) {
      if (closed || (err instanceof RequestError && err.kind === 'disconnected')) {
        return null;
      }
      if (!comm.isDisposed) {
        comm.close();
      }
      throw err;
    }
  }

  /** Send a request; resolves with the reply's `data`, rejects with a RequestError. */
  request<T = any>(
    type: string,
    data: Record<string, unknown>,
    options: IRequestOptions
  ): Promise<T> {
    return this._tracker.request<T>(type, data, options);
  }

  /** Fail the waiting requests with `reason` and close the comm (if the kernel lives). */
  close(reason: string): void {
    this._tracker.rejectAll(reason);
    if (!this._comm.isDisposed) {
      try {
        this._comm.close();
      } catch {
        // the kernel is gone
      }
    }
  }
}

/** Load clusterlab into a kernel that lacks the comm target (silently, no history). */
export async function loadExtension(kernel: Kernel.IKernelConnection): Promise<void> {
  const future = kernel.requestExecute({
    code: LOAD_CODE,
    silent: true,
    store_history: false
  });
  const reply = await future.done;
  const content = reply.content as KernelMessage.IExecuteReplyMsg['content'];
  if (content.status !== 'ok') {
    const error = content as KernelMessage.IReplyErrorContent;
    throw new Error(
      `${LOAD_TEXT} failed in this kernel (${error.ename}: ${error.evalue}); ` +
        "install clusterlab in the kernel's environment"
    );
  }
}

/** The kernel's protocol must be the panel's. */
export function checkProtocol(hello: IHello): void {
  if (hello.protocol !== PROTOCOL_VERSION) {
    throw new Error(
      `the kernel speaks protocol ${hello.protocol}, the panel ${PROTOCOL_VERSION}: ` +
        'update clusterlab'
    );
  }
}
