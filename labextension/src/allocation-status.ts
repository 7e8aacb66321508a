/**
 * The status bar item of a notebook whose kernel runs in a cluster job (issue 31): how
 * long its allocation has left ("hpc: 52 min left"), asked of the panel's kernel
 * (`kernels.remaining`, a ledger read) at most once a minute per kernel, and a warning
 * notification once when the end is 10 minutes away (allocation.ts decides the words).
 * Hidden for any other notebook. Until the job runs, each kernel status change asks again
 * (a cheap ledger read); a running job's answer is kept for the minute.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { AllocationNotes, IAllocation, REFRESH_MS } from './allocation';
import { clusterOfKernel } from './cluster-kernel';

export type AskRemaining = (kernelId: string) => Promise<IAllocation>;

export class AllocationStatus extends Widget {
  constructor(
    private readonly _tracker: INotebookTracker,
    private readonly _ask: AskRemaining,
    private readonly _warn: (message: string) => void
  ) {
    super();
    this.addClass('jp-clusterlab-allocation');
    this.node.setAttribute('role', 'status');
    this.hide();
    _tracker.currentChanged.connect(this._onCurrent, this);
    this._poll = new Poll({
      factory: () => this.refresh(true),
      frequency: { interval: REFRESH_MS, backoff: false },
      name: 'clusterlab:allocation',
      standby: 'when-hidden'
    });
    this._onCurrent();
  }

  /** Show the current notebook's allocation; `ask` asks again once the last answer for
   * that kernel is a minute old (the poll); otherwise the last answer is shown. */
  async refresh(ask = false): Promise<void> {
    const panel = this._tracker.currentWidget;
    const kernel = panel?.sessionContext.session?.kernel ?? null;
    const cluster = kernel ? await clusterOfKernel(kernel) : null;
    if (!kernel || !cluster || panel !== this._tracker.currentWidget) {
      this._show('', '');
      return;
    }
    const cached = this._cache.get(kernel.id);
    let allocation = cached?.allocation ?? null;
    if (!cached || (ask && Date.now() - cached.at >= REFRESH_MS - 1000)) {
      try {
        allocation = await this._ask(kernel.id);
      } catch (err) {
        this._show(
          `${cluster.profile}: cluster kernel`,
          `Time left unknown: ${(err as Error).message}`
        );
        return;
      }
      if (allocation.state === 'RUNNING') {
        // only a running job's answer is kept: a starting kernel is asked again
        this._cache.set(kernel.id, { at: Date.now(), allocation });
      }
    }
    const view = this._notes.view(cluster.profile, allocation);
    this._show(view.text, view.title);
    if (view.warning) {
      this._warn(view.warning);
    }
  }

  dispose(): void {
    this._poll.dispose();
    this._tracker.currentChanged.disconnect(this._onCurrent, this);
    super.dispose();
  }

  private _onCurrent(): void {
    const panel = this._tracker.currentWidget;
    if (panel !== this._watched) {
      this._watched?.sessionContext.kernelChanged.disconnect(this._onKernel, this);
      this._watched?.sessionContext.statusChanged.disconnect(this._onKernel, this);
      this._watched = panel;
      panel?.sessionContext.kernelChanged.connect(this._onKernel, this);
      // a kernel that just started (its job now runs) says so by its status
      panel?.sessionContext.statusChanged.connect(this._onKernel, this);
    }
    void this.refresh();
  }

  private _onKernel(): void {
    void this.refresh();
  }

  private _show(text: string, title: string): void {
    this.node.textContent = text;
    this.node.title = title;
    this.setHidden(!text);
  }

  private readonly _notes = new AllocationNotes();
  private readonly _cache = new Map<string, { at: number; allocation: IAllocation }>();
  private readonly _poll: Poll;
  private _watched: NotebookPanel | null = null;
}
