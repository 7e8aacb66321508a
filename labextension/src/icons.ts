import { LabIcon } from '@jupyterlab/ui-components';

import clusterSvg from '../style/icons/cluster.svg';

export const clusterIcon = new LabIcon({
  name: 'clusterlab:cluster',
  svgstr: clusterSvg
});
