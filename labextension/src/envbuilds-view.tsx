/**
 * A small strip at the top of the Clusters panel: each environment being built for a
 * job of this kernel (a bar and its step), fed by `env.event` pushes; empty (hidden)
 * when nothing builds.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import { IEnvEvent, applyEnvEvents, describeBuild } from './envbuilds';
import { KernelLink } from './kernel';
import { IMessage } from './protocol';

export class EnvBuildsWidget extends ReactWidget {
  constructor(link: KernelLink) {
    super();
    this.addClass('jp-clusterlab-envBuilds');
    link.pushed.connect(this._onPushed, this);
    this._timer = setInterval(() => this._tick(), 1000);
  }

  dispose(): void {
    clearInterval(this._timer);
    super.dispose();
  }

  private _onPushed(_: KernelLink, message: IMessage): void {
    if (message.type !== 'env.event' || !Array.isArray(message.data?.events)) {
      return;
    }
    this._builds = applyEnvEvents(this._builds, message.data.events, Date.now() / 1000);
    this.update();
  }

  private _tick(): void {
    if (this._builds.length) {
      // elapsed seconds, and finished builds leaving (no kernel traffic)
      this._builds = applyEnvEvents(this._builds, [], Date.now() / 1000);
      this.update();
    }
  }

  protected render(): JSX.Element {
    const now = Date.now() / 1000;
    return (
      <div role="status" aria-label="Environment builds">
        {this._builds.map(b => (
          <div
            key={`${b.profile}/${b.env}`}
            className="jp-clusterlab-envBuild"
            data-phase={b.phase}
          >
            <progress max={b.total} value={b.phase === 'ready' ? b.total : b.done} />{' '}
            <span>{describeBuild(b, now)}</span>
          </div>
        ))}
      </div>
    );
  }

  private _builds: IEnvEvent[] = [];
  private readonly _timer: ReturnType<typeof setInterval>;
}
