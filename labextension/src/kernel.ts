/**
 * The panel's link to a kernel: the active notebook's kernel, or a background python3
 * kernel the panel starts and owns when no notebook is open (or the notebook's kernel
 * runs on a cluster: cluster-kernel.ts). Follows the current
 * notebook, restarts and kernel changes, and reconnects; the `clusterlab` comm itself
 * (hello, loading the extension, requests) is comm-channel.ts's job, the status and
 * requests every link has are link-base.ts's.
 *
 * Two modes. `start()` (the panel was shown) may cost something: it loads clusterlab into
 * the notebook's kernel or starts a background kernel. `watch()` (from page load, so
 * job-end notifications work before the panel is ever opened) costs nothing: it only
 * opens the comm to a kernel that already has clusterlab (it registers the comm target on
 * import), keeps the link it has rather than drop it for a kernel without clusterlab, and
 * tries such a kernel again after a cell that mentions clusterlab ran there. It never
 * starts a kernel and never runs code in one.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage, Session } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import { existingBackground, openBackground } from './background-kernel';
import { clusterOfKernel } from './cluster-kernel';
import { CommChannel, loadExtension, withTimeout } from './comm-channel';
import { ClusterlabUseWatcher } from './kernel-use';
import { CommLink } from './link-base';
import { COMM_TARGET } from './protocol';

export { LOAD_CODE } from './comm-channel';

export type { LinkStatus } from './link-base';

export { BACKGROUND_PATH } from './background-kernel';

export interface IKernelLinkOptions {
  sessions: Session.IManager;
  tracker: INotebookTracker | null;
  /** Default request timeout, milliseconds. */
  timeout?: number;
}

export class KernelLink extends CommLink implements IDisposable {
  constructor(options: IKernelLinkOptions) {
    super(options.timeout ?? 60000);
    this._sessions = options.sessions;
    this._tracker = options.tracker;
    if (this._tracker) {
      this._tracker.currentChanged.connect(this._onCurrentChanged, this);
    }
  }

  get kernel(): Kernel.IKernelConnection | null {
    return this._kernel;
  }

  /** True when the panel uses its own background kernel. */
  get isBackground(): boolean {
    return this._kernel !== null && this._kernel === this._background;
  }

  /** True once `start()` was called: before, the link neither starts kernels nor loads
   * clusterlab into one (it may watch, see `watch()`). */
  get isStarted(): boolean {
    return this._started;
  }

  /** True while the link only watches (`watch()` called, `start()` not yet). */
  get isWatching(): boolean {
    return this._watching && !this._started;
  }

  /**
   * Follow the current notebook's kernel, or the panel's background kernel if one runs
   * already, but only when it has clusterlab: no kernel is started and no code is run.
   * Called at page load so pushed job events and the job list (and the notifications
   * they drive) work before the panel is shown. Idempotent; `start()` takes over.
   */
  async watch(): Promise<void> {
    if (this._started || this._watching) {
      return;
    }
    this._watching = true;
    await this._follow();
  }

  /**
   * Pick the kernel to use (the current notebook's, else a background one) and connect.
   * Nothing happens before the first call (the panel calls it when first shown), so a
   * page load never starts a kernel for a panel nobody opened. Idempotent.
   */
  async start(): Promise<void> {
    if (this._started) {
      return;
    }
    this._started = true;
    this._useWatcher.stop();
    await this._follow();
  }

  /** Reconnect to the same kernel (after an error). */
  async reconnect(): Promise<void> {
    if (
      this._kernel &&
      this._kernel.status === 'dead' &&
      this._kernel === this._background
    ) {
      this._background = null;
      this._backgroundSession = null;
      this._kernel = null;
    }
    if (this._kernel) {
      await this._connect(this._kernel);
    } else {
      this._started = true;
      await this._follow();
    }
  }

  /** A request is a need: connect now (unless watching, which answers it when it can). */
  protected _onNeed(): void {
    if (!this._started && !this._watching) {
      void this.start();
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._closeComm('the panel was closed');
    if (this._kernel) {
      this._kernel.statusChanged.disconnect(this._onStatus, this);
    }
    if (this._tracker) {
      this._tracker.currentChanged.disconnect(this._onCurrentChanged, this);
    }
    this._watchNotebook(null);
    this._useWatcher.stop();
    // The background session is left running: a reload of the page reuses it.
    this._backgroundSession?.dispose();
    Signal.clearData(this);
  }

  // -- kernel choice ------------------------------------------------------------------------

  private _onCurrentChanged(): void {
    if (this._started || this._watching) {
      void this._follow();
    }
  }

  private _watchNotebook(panel: NotebookPanel | null): void {
    if (this._watched === panel) {
      return;
    }
    if (this._watched) {
      this._watched.sessionContext.kernelChanged.disconnect(
        this._onKernelChanged,
        this
      );
    }
    this._watched = panel;
    if (panel) {
      panel.sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    }
  }

  private _onKernelChanged(): void {
    if (this._started || this._watching) {
      void this._follow();
    }
  }

  private async _follow(): Promise<void> {
    if (this._disposed) {
      return;
    }
    const generation = ++this._followGeneration;
    const passive = !this._started;
    const panel = this._tracker?.currentWidget ?? null;
    this._watchNotebook(panel);
    if (panel) {
      if (!passive || this._status !== 'ready') {
        this._setStatus(
          'connecting',
          `${panel.context.path}`,
          'waiting for the kernel'
        );
      }
      try {
        await panel.sessionContext.ready;
      } catch {
        // no session: fall through to the background kernel
      }
      let kernel = panel.sessionContext.session?.kernel ?? null;
      if (kernel && (await clusterOfKernel(kernel))) {
        kernel = null; // it runs on a compute node: the panel keeps a kernel of its own
      }
      if (generation !== this._followGeneration || this._disposed) {
        return;
      }
      if (kernel && passive) {
        await this._watchKernel(kernel, panel.context.path, generation);
        return;
      }
      if (kernel) {
        await this._use(kernel, panel.context.path);
        this._releaseBackground();
        return;
      }
    }
    if (passive) {
      await this._watchBackground(generation);
      return;
    }
    // No notebook (or one without a kernel): a background kernel owned by the panel.
    if (!this._background || this._background.isDisposed) {
      this._setStatus('connecting', 'background kernel', 'starting python3');
      try {
        this._background = await this._startBackground();
      } catch (err) {
        this._setStatus(
          'error',
          'background kernel',
          `could not start a python3 kernel: ${(err as Error).message}`
        );
        return;
      }
    }
    if (generation !== this._followGeneration || this._disposed || !this._background) {
      return;
    }
    await this._use(this._background, 'background kernel');
  }

  /** Watching without a notebook kernel: the panel's background kernel if it runs
   * already (an earlier visit started it); none is started. */
  private async _watchBackground(generation: number): Promise<void> {
    if (!this._background || this._background.isDisposed) {
      const session = await this._backgroundFor(false);
      if (generation !== this._followGeneration || this._disposed || this._started) {
        return;
      }
      if (!session) {
        if (this._status !== 'ready') {
          this._setStatus('connecting', 'no kernel yet', 'connects when shown');
        }
        return;
      }
      this._background = session.kernel;
    }
    if (this._background) {
      await this._watchKernel(this._background, 'background kernel', generation);
    }
  }

  /**
   * Watching: use `kernel` only if it has clusterlab's comm target already. Otherwise
   * keep the link as it is and try again after a cell that mentions clusterlab ran there.
   */
  private async _watchKernel(
    kernel: Kernel.IKernelConnection,
    where: string,
    generation: number
  ): Promise<void> {
    if (kernel === this._kernel && this._status === 'ready') {
      this._useWatcher.stop();
      return;
    }
    // Armed before the probe: a cell that takes clusterlab in while the probe is under way
    // (comms are served on a subshell, beside the running cell) still brings a retry.
    this._useWatcher.watch(kernel);
    let channel: CommChannel | null = null;
    try {
      await withTimeout(kernel.info, this.timeout, 'the kernel does not answer');
      channel = await this._openChannel(kernel);
    } catch {
      channel = null; // a kernel that does not answer is not watched
    }
    const stale =
      generation !== this._followGeneration || this._disposed || this._started;
    if (stale) {
      channel?.close('superseded');
      return;
    }
    if (channel === null) {
      if (this._status !== 'ready') {
        this._setStatus(
          'connecting',
          where,
          'waiting for a kernel that uses clusterlab'
        );
      }
      return;
    }
    this._useWatcher.stop();
    this._switchTo(kernel, where);
    ++this._connectGeneration; // a connect still in flight is superseded
    this._closeComm('switching kernels');
    try {
      this._adopt(this._describe(kernel), channel);
    } catch (err) {
      this._closeComm((err as Error).message);
      this._setStatus('error', this._describe(kernel), (err as Error).message);
      return;
    }
    this._releaseBackground();
  }

  /** Follow `kernel`'s status (restarts, death) instead of the previous kernel's. */
  private _switchTo(kernel: Kernel.IKernelConnection, where: string): void {
    this._where = where;
    if (this._kernel && this._kernel !== kernel) {
      this._kernel.statusChanged.disconnect(this._onStatus, this);
    }
    if (this._kernel !== kernel) {
      kernel.statusChanged.connect(this._onStatus, this);
    }
    this._kernel = kernel;
  }

  /** Reuse the panel's session if the server has it (page reload), else start one. */
  private async _startBackground(): Promise<Kernel.IKernelConnection> {
    const session = await this._backgroundFor(true);
    if (!session?.kernel) {
      throw new Error('the session has no kernel');
    }
    return session.kernel;
  }

  /**
   * The background session (`create`: started if the server has none), one lookup or
   * start at a time. Follows run concurrently (closing a notebook changes the current
   * widget and its kernel at once); a second start would find the first one's session
   * and connect to it again, and JupyterLab gives a second connection no comms.
   */
  private async _backgroundFor(
    create: boolean
  ): Promise<Session.ISessionConnection | null> {
    while (this._backgroundPending) {
      await this._backgroundPending.catch(() => null);
    }
    const held = this._backgroundSession;
    if (held && !held.isDisposed && held.kernel && !held.kernel.isDisposed) {
      return held;
    }
    const pending = (
      create ? openBackground(this._sessions) : existingBackground(this._sessions)
    ).then(session => {
      if (session) {
        this._backgroundSession = session;
      }
      return session;
    });
    this._backgroundPending = pending;
    try {
      return await pending;
    } finally {
      if (this._backgroundPending === pending) {
        this._backgroundPending = null;
      }
    }
  }

  /** Shut the background kernel down once a notebook's kernel serves the panel. */
  private _releaseBackground(): void {
    const bg = this._background;
    const session = this._backgroundSession;
    if (bg && bg !== this._kernel) {
      this._background = null;
      this._backgroundSession = null;
      void (session ?? bg).shutdown().catch(() => undefined);
    }
  }

  private async _use(kernel: Kernel.IKernelConnection, where: string): Promise<void> {
    this._where = where;
    if (kernel === this._kernel && this._status === 'ready') {
      this._setStatus('ready', this._describe(kernel), '');
      return;
    }
    this._switchTo(kernel, where);
    await this._connect(kernel);
  }

  private _describe(kernel: Kernel.IKernelConnection): string {
    return `${this._where} — ${kernel.name}`;
  }

  private _onStatus(
    kernel: Kernel.IKernelConnection,
    status: KernelMessage.Status
  ): void {
    if (kernel !== this._kernel) {
      return;
    }
    if (status === 'restarting' || status === 'autorestarting') {
      this._closeComm('the kernel restarted');
      this._restarting = true;
      this._setStatus('busy-restarting', this._describe(kernel), 'kernel restarting');
    } else if (status === 'dead') {
      this._closeComm('the kernel died');
      this._setStatus('error', this._describe(kernel), 'the kernel is dead');
      if (kernel === this._background) {
        this._background = null;
        this._backgroundSession = null;
      }
    } else if (this._restarting && (status === 'idle' || status === 'busy')) {
      this._restarting = false;
      if (this._started) {
        void this._connect(kernel);
      } else {
        void this._follow(); // watching: a restarted kernel has no clusterlab until used
      }
    }
  }

  // -- comm ---------------------------------------------------------------------------------

  private async _connect(kernel: Kernel.IKernelConnection): Promise<void> {
    const generation = ++this._connectGeneration;
    this._closeComm('reconnecting');
    const stale = () => generation !== this._connectGeneration || this._disposed;
    try {
      this._setStatus(
        'connecting',
        this._describe(kernel),
        'opening the clusterlab comm'
      );
      await withTimeout(
        kernel.info,
        this.timeout,
        'the kernel does not answer (is it dead? restart it from the Kernel menu)'
      );
      if (stale()) {
        return;
      }
      let channel = await this._openChannel(kernel);
      if (stale()) {
        channel?.close('reconnecting');
        return;
      }
      if (channel === null) {
        // The kernel closed the comm: it lacks the target. Load the extension silently.
        this._setStatus('loading', this._describe(kernel), '');
        await loadExtension(kernel);
        if (stale()) {
          return;
        }
        channel = await this._openChannel(kernel);
        if (stale()) {
          channel?.close('reconnecting');
          return;
        }
        if (channel === null) {
          throw new Error(
            `the kernel has no '${COMM_TARGET}' comm target even after loading clusterlab`
          );
        }
      }
      this._adopt(this._describe(kernel), channel);
    } catch (err) {
      if (!stale()) {
        this._closeComm((err as Error).message);
        this._setStatus('error', this._describe(kernel), (err as Error).message);
      }
    }
  }

  private _started = false;
  private _watching = false;
  /** While watching: a kernel without clusterlab, tried again once a cell used it. */
  private readonly _useWatcher = new ClusterlabUseWatcher(() => {
    if (!this._started && !this._disposed) {
      void this._follow();
    }
  });
  private readonly _sessions: Session.IManager;
  private _backgroundSession: Session.ISessionConnection | null = null;
  private _backgroundPending: Promise<Session.ISessionConnection | null> | null = null;
  private readonly _tracker: INotebookTracker | null;
  private _watched: NotebookPanel | null = null;
  private _kernel: Kernel.IKernelConnection | null = null;
  private _background: Kernel.IKernelConnection | null = null;
  private _where = '';
  private _restarting = false;
  private _followGeneration = 0;
  private _connectGeneration = 0;
}
