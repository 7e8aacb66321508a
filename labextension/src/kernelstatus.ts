/**
 * Keep JupyterLab's kernel status ("Busy"/"Idle" in the status bar and the notebook
 * toolbar) true while the panel talks to a busy kernel.
 *
 * Why: JupyterLab 4.6 sends comm messages over a kernel subshell (JEP 91) and ipykernel 7
 * publishes a `status: busy` then `status: idle` on IOPub for every message a subshell
 * handles. JupyterLab takes any IOPub status as the kernel's state, so one request of the
 * panel (or of a widget) while a `%%cluster` cell blocks the main shell turned the status
 * bar to "Idle" until the cell ended. JupyterLab ignores status messages whose parent is
 * in the page option `untracked_message_types`; adding the comm and subshell message
 * types there leaves only the main shell's executions to drive the status.
 */
import { PageConfig } from '@jupyterlab/coreutils';

/** Message types whose busy/idle is not the kernel's execution state. */
export const SUBSHELL_MESSAGE_TYPES: readonly string[] = [
  'comm_open',
  'comm_msg',
  'comm_close',
  'create_subshell_request',
  'delete_subshell_request',
  'list_subshell_request'
];

/** `current` (the page option's JSON text) with `extra` added, as JSON text. */
export function withUntracked(current: string, extra: readonly string[]): string {
  let list: unknown;
  try {
    list = JSON.parse(current || '[]');
  } catch {
    list = [];
  }
  const types = Array.isArray(list) ? list.map(String) : [];
  for (const type of extra) {
    if (!types.includes(type)) {
      types.push(type);
    }
  }
  return JSON.stringify(types);
}

/** Apply to this page (idempotent). */
export function untrackSubshellStatus(): void {
  const key = 'untracked_message_types';
  PageConfig.setOption(
    key,
    withUntracked(PageConfig.getOption(key), SUBSHELL_MESSAGE_TYPES)
  );
}
