/**
 * The jobs list's pager: the panel shows one page of the job ledger, newest first, and
 * the kernel reads only that page (`jobs.list` with `offset` and `limit`), so 10,000 jobs
 * in the ledger cost the panel what 100 do.
 */
import * as React from 'react';

import { pageText } from './jobs';
import { PanelModel } from './model';

/**
 * "Showing 101–200 of 10,000" with Previous and Next: the panel shows one page of the
 * ledger (the kernel reads only that page), newest first. Shown once there is more
 * than one page.
 */
export function Pager(props: { model: PanelModel }): JSX.Element | null {
  const { model } = props;
  const [busy, setBusy] = React.useState(false);
  const page = model.page;
  const shown = model.jobs.length;
  const text = pageText(page, shown, model.jobsTotal);
  if (!text) {
    return null;
  }
  const go = async (action: () => Promise<void>) => {
    setBusy(true);
    try {
      await action();
    } catch {
      // the list shows "Could not list jobs: ..." (model.jobsError)
    } finally {
      setBusy(false);
    }
  };
  const hasNext = page.offset + shown < model.jobsTotal;
  return (
    <div className="jp-clusterlab-pager" role="group" aria-label="Pages of jobs">
      <button
        className="jp-clusterlab-button jp-mod-small"
        disabled={busy || page.offset === 0}
        title={`Show the ${page.size} newer jobs before these`}
        aria-label="Previous page of jobs"
        onClick={() => void go(() => model.previousPage())}
      >
        Previous
      </button>
      <span className="jp-clusterlab-pagerText" aria-live="polite">
        {text}
      </span>
      <button
        className="jp-clusterlab-button jp-mod-small"
        disabled={busy || !hasNext}
        title={`Show the next ${page.size} older jobs (the kernel reads one page of the job ledger at a time)`}
        aria-label="Next page of jobs"
        onClick={() => void go(() => model.nextPage())}
      >
        Next
      </button>
    </div>
  );
}
