/**
 * clusterlab's JupyterLab extension: the Clusters sidebar and its commands.
 *
 * Commands are registered once and reused by the palette, the panel's toolbar, the
 * notebook toolbar (declared in schema/plugin.json) and the job rows.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, ICommandPalette, Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { refreshIcon } from '@jupyterlab/ui-components';

import { AllocationStatus } from './allocation-status';
import { clusterIcon } from './icons';
import { endedMessage, resultSnippet } from './jobs';
import { KernelLink } from './kernel';
import { untrackSubshellStatus } from './kernelstatus';
import { LoginPrompts } from './login';
import { askInDialog } from './login-dialog';
import { DEFAULT_SETTINGS, IPanelSettings, PanelModel } from './model';
import { ClusterPanel } from './panel';

const PLUGIN_ID = 'clusterlab:plugin';

export namespace CommandIDs {
  export const open = 'clusterlab:open';
  export const insertCell = 'clusterlab:insert-cell';
  export const openMonitor = 'clusterlab:open-monitor';
  export const refresh = 'clusterlab:refresh';
  export const insertResult = 'clusterlab:insert-result';
  export const copyJobId = 'clusterlab:copy-job-id';
}

export const MONITOR_CODE = 'import clusterlab as cl; cl.monitor()';

/** Put `source` in a new code cell below the active one (or in an empty active cell). */
function insertCell(panel: NotebookPanel, source: string): void {
  const notebook = panel.content;
  const active = notebook.activeCell;
  const reuse =
    active !== null &&
    active.model.type === 'code' &&
    active.model.sharedModel.getSource().trim() === '';
  if (!reuse) {
    NotebookActions.insertBelow(notebook);
  }
  const cell = notebook.activeCell;
  if (!cell) {
    return;
  }
  if (cell.model.type !== 'code') {
    NotebookActions.changeCellType(notebook, 'code');
  }
  notebook.activeCell?.model.sharedModel.setSource(source);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Clusters sidebar: cluster profiles and a live job list (clusterlab).',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    INotebookTracker,
    ICommandPalette,
    ISettingRegistry,
    IStatusBar
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    tracker: INotebookTracker | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    statusBar: IStatusBar | null
  ) => {
    const { commands, shell } = app;
    // Requests of the panel (and widgets) run on a kernel subshell: their busy/idle must
    // not make a running notebook look "Idle" (see kernelstatus.ts).
    untrackSubshellStatus();
    const link = new KernelLink({
      sessions: app.serviceManager.sessions,
      tracker,
      timeout: DEFAULT_SETTINGS.requestTimeout * 1000
    });
    const model = new PanelModel(link);
    // "Start a notebook on this cluster": the kernelspec was just written by the kernel,
    // so the server's list is read again before the notebook asks for it by name.
    model.openNotebook = async kernelName => {
      await app.serviceManager.kernelspecs.refreshSpecs();
      await commands.execute('notebook:create-new', { kernelName });
    };
    // A cluster kernel's allocation: time left in the status bar, a warning near its end.
    if (statusBar && tracker) {
      const allocation = new AllocationStatus(
        tracker,
        async kernelId =>
          (await link.request('kernels.remaining', { kernel_id: kernelId })).allocation,
        message => Notification.warning(message, { autoClose: false })
      );
      statusBar.registerStatusItem(`${PLUGIN_ID}:allocation`, {
        item: allocation,
        align: 'left',
        rank: 50,
        isActive: () => !allocation.isHidden
      });
    }
    // A login started in this kernel asks the panel for a one-time code or password.
    const prompts = new LoginPrompts(
      askInDialog,
      (type, data, options) => link.request(type, data, options),
      // the login goes on after the answer (the server checks it): read its state soon
      prompt => setTimeout(() => void model.logins.refreshOne(prompt.profile), 3000)
    );
    link.pushed.connect((_, message) => prompts.handle(message));

    const activeNotebook = (): NotebookPanel | null => {
      const panel = tracker?.currentWidget ?? null;
      if (!panel) {
        Notification.warning('Open a notebook first: this inserts a cell into it.', {
          autoClose: 5000
        });
        return null;
      }
      shell.activateById(panel.id);
      return panel;
    };

    commands.addCommand(CommandIDs.open, {
      label: 'Show the Clusters panel',
      caption: 'Cluster profiles and jobs',
      icon: clusterIcon,
      execute: () => {
        shell.activateById(panel.id);
        model.start();
      }
    });

    commands.addCommand(CommandIDs.insertCell, {
      label: args =>
        args.toolbar
          ? ''
          : `Insert %%cluster ${String(args.profile ?? model.profileForCell())} cell`,
      caption: 'Insert a cell that runs on a cluster with the selected profile',
      icon: clusterIcon,
      isEnabled: () => !!tracker?.currentWidget,
      execute: args => {
        const nb = activeNotebook();
        if (!nb) {
          return;
        }
        const profile = String(args.profile ?? model.profileForCell());
        insertCell(nb, `%%cluster ${profile}\n`);
        nb.content.mode = 'edit';
      }
    });

    commands.addCommand(CommandIDs.openMonitor, {
      label: 'Open job monitor in the notebook',
      caption: `Insert and run a cell with ${MONITOR_CODE}`,
      isEnabled: () => !!tracker?.currentWidget,
      execute: async () => {
        const nb = activeNotebook();
        if (!nb) {
          return;
        }
        insertCell(nb, MONITOR_CODE);
        await NotebookActions.run(nb.content, nb.sessionContext);
      }
    });

    commands.addCommand(CommandIDs.refresh, {
      label: args => (args.toolbar ? '' : 'Refresh cluster profiles and jobs'),
      caption: 'Refresh cluster profiles and jobs',
      icon: refreshIcon,
      execute: async () => {
        model.start();
        if (model.link.status === 'error') {
          await model.link.reconnect();
        }
        await model.refresh();
      }
    });

    commands.addCommand(CommandIDs.insertResult, {
      label: args =>
        `Insert cl.job("${String(args.id ?? 'ID')}").${args.kind === 'array' ? 'results' : 'result'}()`,
      caption: 'Insert a cell that fetches the job result into the active notebook',
      execute: args => {
        const id = String(args.id ?? '');
        const nb = id ? activeNotebook() : null;
        if (nb) {
          insertCell(nb, resultSnippet(id, String(args.kind ?? 'job')));
        }
      }
    });

    commands.addCommand(CommandIDs.copyJobId, {
      label: 'Copy job id',
      execute: args => {
        const id = String(args.id ?? '');
        if (id) {
          Clipboard.copyToSystem(id);
          Notification.info(`Copied job id ${id}`, { autoClose: 2000 });
        }
      }
    });

    const panel = new ClusterPanel({
      model,
      commands,
      toolbarCommands: [CommandIDs.refresh, CommandIDs.insertCell],
      actions: {
        cancel: id => model.cancel(id),
        copyId: id => void commands.execute(CommandIDs.copyJobId, { id }),
        insertResult: (id, kind) =>
          void commands.execute(CommandIDs.insertResult, { id, kind })
      }
    });
    // The kernel link (and a background kernel when no notebook is open) starts when the
    // panel is first shown, not on every page load: see also the restored layout below.
    // Before that it only watches kernels that have clusterlab (model.watch()), so the
    // notifications below work from page load without costing a kernel anything.
    panel.shown.connect(() => model.start());
    shell.add(panel, 'left', { rank: 750, type: 'Clusters' });
    // A job that ends while the panel is hidden: say so (success or error colour), with a
    // button that opens the panel. Many at once become one notice.
    model.ended.connect((_, ended) => {
      if (panel.isVisible) {
        return;
      }
      const show = {
        label: 'Show jobs',
        callback: () => shell.activateById(panel.id)
      };
      const failed = ended.filter(j => j.state !== 'COMPLETED');
      const notify = failed.length ? Notification.error : Notification.success;
      const message =
        ended.length === 1
          ? endedMessage(ended[0])
          : `${ended.length} jobs ended: ${ended.length - failed.length} completed, ${failed.length} did not`;
      notify(message, { autoClose: 10000, actions: [show] });
    });
    if (restorer) {
      restorer.add(panel, 'clusterlab-sidebar');
    }

    tracker?.currentChanged.connect(() => {
      commands.notifyCommandChanged(CommandIDs.insertCell);
      commands.notifyCommandChanged(CommandIDs.openMonitor);
    });
    model.changed.connect((_, what) => {
      if (what === 'selection' || what === 'link') {
        commands.notifyCommandChanged(CommandIDs.insertCell);
      }
    });

    if (palette) {
      const category = 'Clusters';
      for (const command of [
        CommandIDs.open,
        CommandIDs.insertCell,
        CommandIDs.openMonitor,
        CommandIDs.refresh
      ]) {
        palette.addItem({ command, category });
      }
    }

    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () =>
            model.updateSettings(
              settings.composite as unknown as Partial<IPanelSettings>
            );
          apply();
          settings.changed.connect(apply);
        })
        .catch(err => console.warn('clusterlab: could not load settings', err));
    }

    void app.restored.then(() => {
      if (panel.isVisible) {
        model.start(); // the restored layout shows the panel
      } else {
        model.watch(); // job-end notifications from page load, at no cost
      }
    });
  }
};

export default plugin;
