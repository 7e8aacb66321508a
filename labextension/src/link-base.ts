/**
 * What every kernel link has, whichever kernel it picks: its status for the kernel bar,
 * the `clusterlab` comm it holds (one CommChannel at a time), requests over it and the
 * signals the panel's model listens to. Which kernel to use, and when, is kernel.ts's job.
 */
import { Kernel } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { CommChannel, checkProtocol } from './comm-channel';
import { IHello, IMessage } from './protocol';
import { IRequestOptions, RequestError } from './requests';

export type LinkStatus =
  'connecting' | 'loading' | 'ready' | 'busy-restarting' | 'error';

export abstract class CommLink {
  constructor(timeout: number) {
    this.timeout = timeout;
  }

  /** Milliseconds a request waits for its reply. */
  timeout: number;

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Changes of status, label or hello. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Pushed messages (`job.event`, ...) that are not replies to a request. */
  get pushed(): ISignal<this, IMessage> {
    return this._pushed;
  }

  /** Emitted with the new `hello` each time the comm (re)connects. */
  get connected(): ISignal<this, IHello> {
    return this._connected;
  }

  get status(): LinkStatus {
    return this._status;
  }

  /** Human text: which kernel, and any error. */
  get label(): string {
    return this._label;
  }

  get detail(): string {
    return this._detail;
  }

  get hello(): IHello | null {
    return this._hello;
  }

  /** Send a request; resolves with the reply's `data`, rejects with a RequestError. */
  async request<T = any>(
    type: string,
    data: Record<string, unknown> = {},
    options: IRequestOptions = {}
  ): Promise<T> {
    this._onNeed();
    if (this._status !== 'ready' || !this._channel) {
      await this._settled(this.timeout);
    }
    if (!this._channel) {
      throw new RequestError(
        `not connected to a kernel: ${this._detail || this._status}`,
        {},
        'disconnected'
      );
    }
    return this._channel.request<T>(type, data, {
      timeout: this.timeout,
      ...options
    });
  }

  /** Resolves when the link is ready or has failed (or after `timeout` ms). */
  protected _settled(timeout: number): Promise<void> {
    const settled = () => this._status === 'ready' || this._status === 'error';
    if (settled()) {
      return Promise.resolve();
    }
    return new Promise<void>(resolve => {
      const done = () => {
        clearTimeout(timer);
        this._changed.disconnect(check);
        resolve();
      };
      const check = () => {
        if (settled() || this._disposed) {
          done();
        }
      };
      const timer = setTimeout(done, timeout);
      this._changed.connect(check);
    });
  }

  /** Make `channel` the link's comm (its protocol checked: throws) and say so, with
   * `label` (which kernel) in the bar. */
  protected _adopt(label: string, channel: CommChannel): void {
    this._channel = channel;
    checkProtocol(channel.hello);
    this._hello = channel.hello;
    this._setStatus('ready', label, '');
    this._connected.emit(channel.hello);
  }

  /** A request was made: a link that has not started may start now. */
  protected abstract _onNeed(): void;

  protected _openChannel(
    kernel: Kernel.IKernelConnection
  ): Promise<CommChannel | null> {
    return CommChannel.open(kernel, this.timeout, {
      onPush: message => this._pushed.emit(message),
      onClose: channel => {
        if (this._channel !== channel) {
          return;
        }
        this._channel = null;
        if (this._status === 'ready') {
          this._setStatus(
            'error',
            this._label,
            'the kernel closed the clusterlab comm'
          );
        }
      }
    });
  }

  protected _closeComm(reason: string): void {
    const channel = this._channel;
    this._channel = null;
    channel?.close(reason);
  }

  protected _setStatus(status: LinkStatus, label: string, detail: string): void {
    this._status = status;
    this._label = label;
    this._detail = detail;
    this._changed.emit();
  }

  protected _disposed = false;
  protected _channel: CommChannel | null = null;
  protected _hello: IHello | null = null;
  protected _status: LinkStatus = 'connecting';
  protected _label = 'no kernel yet';
  protected _detail = '';
  protected readonly _changed = new Signal<this, void>(this);
  protected readonly _pushed = new Signal<this, IMessage>(this);
  protected readonly _connected = new Signal<this, IHello>(this);
}
