/**
 * Noticing that a kernel started to use clusterlab, at no cost to it: the kernel link,
 * while it only watches (kernel.ts, `watch()`), does not load clusterlab into a kernel
 * that lacks it. It reads the kernel's iopub broadcast instead, and once a cell whose
 * code mentions clusterlab has finished there (its import registered the comm target),
 * says so, and the link tries that kernel again. Nothing is sent to the kernel.
 */
import { Kernel, KernelMessage } from '@jupyterlab/services';

/** True for code that imports or loads clusterlab (or runs its `%%cluster` magic, which
 * needs `%load_ext clusterlab` first). */
export function mentionsClusterlab(code: string): boolean {
  return /clusterlab/.test(code);
}

/** Follows one kernel's iopub messages and calls `onUsed` after each finished cell that
 * mentions clusterlab. */
export class ClusterlabUseWatcher {
  constructor(private readonly _onUsed: () => void) {}

  /** The kernel watched, or null. */
  get kernel(): Kernel.IKernelConnection | null {
    return this._kernel;
  }

  /** Watch `kernel` (and stop watching the previous one). */
  watch(kernel: Kernel.IKernelConnection): void {
    if (this._kernel === kernel) {
      return;
    }
    this.stop();
    this._kernel = kernel;
    kernel.iopubMessage.connect(this._onIopub, this);
  }

  stop(): void {
    this._kernel?.iopubMessage.disconnect(this._onIopub, this);
    this._kernel = null;
    this._cell = null;
  }

  /** One iopub message (public for the unit tests). */
  handle(msg: KernelMessage.IIOPubMessage): void {
    const type = msg.header.msg_type;
    const parent =
      (msg.parent_header as Partial<KernelMessage.IHeader>)?.msg_id ?? null;
    if (type === 'execute_input') {
      const code = String((msg.content as { code?: unknown }).code ?? '');
      if (mentionsClusterlab(code)) {
        this._cell = parent;
      }
      return;
    }
    const idle =
      type === 'status' &&
      (msg.content as { execution_state?: string }).execution_state === 'idle';
    if (idle && this._cell !== null && parent === this._cell) {
      this._cell = null;
      this._onUsed();
    }
  }

  private _onIopub(
    kernel: Kernel.IKernelConnection,
    msg: KernelMessage.IIOPubMessage
  ): void {
    if (kernel === this._kernel) {
      this.handle(msg);
    }
  }

  private _kernel: Kernel.IKernelConnection | null = null;
  /** The msg_id of the running cell that mentions clusterlab. */
  private _cell: string | null = null;
}
