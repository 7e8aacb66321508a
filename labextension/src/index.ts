import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Widget } from '@lumino/widgets';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'clusterlab:plugin',
  description: 'Clusters sidebar: profiles and jobs.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const panel = new Widget();
    panel.id = 'clusterlab-sidebar';
    panel.title.caption = 'Clusters';
    panel.title.label = 'Clusters';
    panel.addClass('jp-clusterlab-panel');
    panel.node.textContent = 'clusterlab';
    app.shell.add(panel, 'left', { rank: 700 });
    restorer?.add(panel, 'clusterlab-sidebar');
  }
};

export default plugin;
