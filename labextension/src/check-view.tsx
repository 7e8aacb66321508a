/**
 * The connection test's view: one line per check as it streams in, then the verdict.
 * Kept apart from the form so the form's file says how a profile is edited and this one
 * how a test reads.
 */
import * as React from 'react';

import { ICheckLine } from './protocol';

/** A connection test: running, its lines so far, and how it ended. */
export type CheckState = {
  running: boolean;
  lines: ICheckLine[];
  result: '' | 'ok' | 'fail';
  error: string;
};

/** No test has run yet. */
export const NO_CHECK: CheckState = {
  running: false,
  lines: [],
  result: '',
  error: ''
};

export function CheckView(props: { check: CheckState }): JSX.Element {
  const { check } = props;
  return (
    <div className="jp-clusterlab-check" aria-live="polite">
      <ul className="jp-clusterlab-checkLines" aria-label="Connection test">
        {check.lines.map((line, i) => (
          <li
            key={i}
            className={
              'jp-clusterlab-checkLine ' +
              (line.level === 'warning'
                ? 'jp-mod-warn'
                : line.ok
                  ? 'jp-mod-ok'
                  : 'jp-mod-fail')
            }
            data-check={line.name}
            data-ok={String(line.ok)}
            data-level={line.level ?? (line.ok ? 'ok' : 'error')}
          >
            <span className="jp-clusterlab-checkMark" aria-hidden="true">
              {line.level === 'warning' ? '!' : line.ok ? '✓' : '✗'}
            </span>
            <span className="jp-clusterlab-checkName">{line.name}</span>
            <span className="jp-clusterlab-sr">
              {line.level === 'warning'
                ? ' warning: '
                : line.ok
                  ? ' passed: '
                  : ' failed: '}
            </span>
            <span className="jp-clusterlab-checkDetail">{line.detail}</span>
          </li>
        ))}
      </ul>
      {check.running && <div className="jp-clusterlab-muted">Testing…</div>}
      {check.error && (
        <div className="jp-clusterlab-error" role="alert">
          {check.error}
        </div>
      )}
      {check.result && !check.running && (
        <div
          className={
            'jp-clusterlab-checkResult ' +
            (check.result === 'ok' ? 'jp-mod-ok' : 'jp-mod-fail')
          }
          role="status"
        >
          {check.result === 'ok'
            ? 'All checks passed: this profile can run jobs.'
            : 'Some checks failed: see the red lines.'}
        </div>
      )}
    </div>
  );
}
