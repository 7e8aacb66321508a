/**
 * The Clusters sidebar: a kernel bar, a toolbar of commands, and two sections
 * (Profiles, Jobs), each a React view re-rendered when the model changes.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import { CommandToolbarButton, SidePanel } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import { EnvBuildsWidget } from './envbuilds-view';
import { clusterIcon } from './icons';
import { IJobActions, JobsView } from './jobs-view';
import { PanelModel } from './model';
import { ProfilesView } from './profiles';

/** A ReactWidget that re-renders when the model says `what` (or anything) changed. */
class ModelView extends ReactWidget {
  constructor(
    protected readonly model: PanelModel,
    private readonly renderView: () => JSX.Element,
    kinds: string[] | null
  ) {
    super();
    model.changed.connect((_, what) => {
      if (kinds === null || kinds.includes(what)) {
        this.update();
      }
    }, this);
  }

  protected render(): JSX.Element {
    return this.renderView();
  }
}

function KernelBar(props: { model: PanelModel }): JSX.Element {
  const { link } = props.model;
  const status = link.status;
  const text =
    status === 'ready'
      ? 'connected'
      : status === 'error'
        ? 'not connected'
        : status === 'loading'
          ? 'loading clusterlab'
          : status === 'busy-restarting'
            ? 'restarting'
            : 'connecting';
  return (
    <div className="jp-clusterlab-kernel" data-status={status} role="status">
      <span className={`jp-clusterlab-dot jp-mod-${status}`} aria-hidden="true" />
      <span className="jp-clusterlab-kernelText">
        <span
          className="jp-clusterlab-kernelLabel"
          title="The kernel this panel talks to"
        >
          Kernel: {link.label}
        </span>
        <span className="jp-clusterlab-kernelState">
          {' '}
          ({text}
          {link.detail && link.detail !== text ? `: ${link.detail}` : ''})
        </span>
      </span>
      {status === 'error' && (
        <button
          className="jp-clusterlab-button jp-mod-small"
          onClick={() => void link.reconnect()}
        >
          Reconnect
        </button>
      )}
    </div>
  );
}

export class ClusterPanel extends SidePanel {
  constructor(options: {
    model: PanelModel;
    commands: CommandRegistry;
    toolbarCommands: string[];
    actions: IJobActions;
  }) {
    super();
    const { model, commands } = options;
    this.model = model;
    this.id = 'clusterlab-sidebar';
    this.addClass('jp-clusterlab-panel');
    this.title.icon = clusterIcon;
    this.title.caption = 'Clusters: profiles and jobs';
    this.node.setAttribute('aria-label', 'Clusters');

    const bar = new ModelView(model, () => <KernelBar model={model} />, ['link']);
    bar.addClass('jp-clusterlab-kernelBar');
    this.header.addWidget(bar);
    this.header.addWidget(new EnvBuildsWidget(model.link)); // env.event: envs building

    for (const id of options.toolbarCommands) {
      this.toolbar.addItem(
        id,
        new CommandToolbarButton({ commands, id, args: { toolbar: true } })
      );
    }

    const profiles = new ModelView(model, () => <ProfilesView model={model} />, [
      'link',
      'profiles'
    ]);
    profiles.title.label = 'Profiles';
    profiles.addClass('jp-clusterlab-section');
    profiles.id = 'clusterlab-profiles';
    this.addWidget(profiles as any);

    const jobs = new ModelView(
      model,
      () => <JobsView model={model} actions={options.actions} />,
      ['link', 'jobs', 'profiles']
    );
    jobs.title.label = 'Jobs';
    jobs.addClass('jp-clusterlab-section');
    jobs.id = 'clusterlab-jobs';
    this.addWidget(jobs as any);
  }

  readonly model: PanelModel;

  /** Emitted each time the sidebar becomes visible (the kernel link starts on the first). */
  get shown(): ISignal<this, void> {
    return this._shown;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._shown.emit();
  }

  private readonly _shown = new Signal<this, void>(this);
}
