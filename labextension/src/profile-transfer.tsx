/**
 * Export / Import of profiles, as the ipywidgets form has them: Export fills the box with
 * every saved profile as TOML (no secrets: none is stored), Import saves what is pasted.
 */
import * as React from 'react';

import { PanelModel } from './model';

export function ProfileTransfer(props: { model: PanelModel }): JSX.Element {
  const [text, setText] = React.useState('');
  const [status, setStatus] = React.useState<{ ok: boolean; text: string } | null>(
    null
  );
  const act = async (what: () => Promise<string>) => {
    setStatus(null);
    try {
      setStatus({ ok: true, text: await what() });
    } catch (err) {
      setStatus({ ok: false, text: (err as Error).message });
    }
  };
  return (
    <details className="jp-clusterlab-transfer">
      <summary>Export / Import profiles</summary>
      <textarea
        className="jp-clusterlab-input"
        aria-label="Exported profiles (TOML): copy them, or paste some here and Import"
        placeholder="Export fills this box; paste exported profiles here, then Import"
        rows={5}
        spellCheck={false}
        value={text}
        onChange={e => setText(e.target.value)}
      />
      <div className="jp-clusterlab-actions">
        <button
          type="button"
          className="jp-clusterlab-button"
          onClick={() =>
            void act(async () => {
              setText(await props.model.exportProfiles());
              return 'Exported every saved profile above (no secrets are ever included).';
            })
          }
        >
          Export
        </button>
        <button
          type="button"
          className="jp-clusterlab-button"
          disabled={!text.trim()}
          onClick={() =>
            void act(async () => {
              const names = await props.model.importProfiles(text);
              return `Imported ${names.join(', ')}.`;
            })
          }
        >
          Import
        </button>
      </div>
      {status && (
        <div
          className={'jp-clusterlab-status' + (status.ok ? '' : ' jp-mod-error')}
          role="status"
        >
          {status.text}
        </div>
      )}
    </details>
  );
}
