import { describe, expect, it } from 'vitest';

import { ClusterlabUseWatcher, mentionsClusterlab } from '../src/kernel-use';

function msg(type: string, parent: string, content: Record<string, unknown>): any {
  return { header: { msg_type: type }, parent_header: { msg_id: parent }, content };
}

describe('ClusterlabUseWatcher', () => {
  it('says so once a cell that mentions clusterlab has finished, not before', () => {
    let used = 0;
    const watcher = new ClusterlabUseWatcher(() => (used += 1));
    watcher.handle(msg('execute_input', 'a', { code: 'x = 1' }));
    watcher.handle(msg('status', 'a', { execution_state: 'idle' }));
    expect(used).toBe(0); // a cell without clusterlab: nothing to try
    watcher.handle(msg('execute_input', 'b', { code: 'import clusterlab as cl' }));
    watcher.handle(msg('status', 'b', { execution_state: 'busy' }));
    watcher.handle(msg('status', 'other', { execution_state: 'idle' })); // another request
    expect(used).toBe(0);
    watcher.handle(msg('status', 'b', { execution_state: 'idle' }));
    expect(used).toBe(1);
    watcher.handle(msg('status', 'b', { execution_state: 'idle' }));
    expect(used).toBe(1);
  });

  it('recognises the ways a kernel takes clusterlab in', () => {
    expect(mentionsClusterlab('%load_ext clusterlab')).toBe(true);
    expect(mentionsClusterlab('from clusterlab import cluster')).toBe(true);
    expect(mentionsClusterlab('import numpy as np')).toBe(false);
  });
});
