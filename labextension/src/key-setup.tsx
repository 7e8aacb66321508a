/**
 * "Set up SSH key", as the ipywidgets form has it: for a profile that reaches a host, the
 * password is typed once (sent to the kernel for this one login, never stored or kept
 * here), the key is created if missing and installed, key login is checked and the
 * profile is saved with `key_file`. Each step shows as it happens.
 */
import * as React from 'react';

import { fromFormValues, FormValues } from './form';
import { PanelModel } from './model';
import { IFieldSchema } from './protocol';

export function KeySetup(props: {
  model: PanelModel;
  schema: IFieldSchema[];
  values: FormValues;
  onSaved: (name: string, keyFile: string) => void;
}): JSX.Element {
  const [password, setPassword] = React.useState('');
  const [keyFile, setKeyFile] = React.useState('~/.ssh/id_ed25519');
  const [steps, setSteps] = React.useState<string[]>([]);
  const [result, setResult] = React.useState<{ ok: boolean; text: string } | null>(
    null
  );
  const [running, setRunning] = React.useState(false);
  const run = async () => {
    const { profile, errors } = fromFormValues(props.schema, props.values);
    if (Object.keys(errors).length || !password) {
      setResult({
        ok: false,
        text: !password
          ? 'Type the password of your account on the host first.'
          : 'Fix the fields marked in red first.'
      });
      return;
    }
    const typed = password;
    setPassword(''); // never kept in the form
    setRunning(true);
    setSteps([]);
    setResult(null);
    try {
      const saved = await props.model.setupKey(profile, typed, keyFile, text =>
        setSteps(prev => [...prev, text])
      );
      setResult({
        ok: true,
        text: `Key login works; '${saved}' saved with its key file.`
      });
      props.onSaved(saved, keyFile);
    } catch (err) {
      setResult({ ok: false, text: `Key set-up failed: ${(err as Error).message}` });
    } finally {
      setRunning(false);
    }
  };
  return (
    <fieldset className="jp-clusterlab-keySetup">
      <legend>Set up SSH key</legend>
      <label className="jp-clusterlab-label" htmlFor="clusterlab-key-password">
        Password on the host (used once, never stored)
      </label>
      <input
        id="clusterlab-key-password"
        type="password"
        className="jp-clusterlab-input"
        autoComplete="off"
        value={password}
        onChange={e => setPassword(e.target.value)}
      />
      <label className="jp-clusterlab-label" htmlFor="clusterlab-key-file">
        Key file (created if it does not exist)
      </label>
      <input
        id="clusterlab-key-file"
        type="text"
        className="jp-clusterlab-input"
        spellCheck={false}
        value={keyFile}
        onChange={e => setKeyFile(e.target.value)}
      />
      <div className="jp-clusterlab-actions">
        <button
          type="button"
          className="jp-clusterlab-button"
          disabled={running}
          title="Create the key if you have none, install it on the host with your password (typed once, never stored), then check that key login works"
          onClick={() => void run()}
        >
          {running ? 'Setting up…' : 'Set up SSH key'}
        </button>
      </div>
      {steps.length > 0 && (
        <ul className="jp-clusterlab-checkLines" aria-label="SSH key set-up">
          {steps.map((s, i) => (
            <li key={i} className="jp-clusterlab-checkLine">
              {s}
            </li>
          ))}
        </ul>
      )}
      {result && (
        <div
          className={'jp-clusterlab-status' + (result.ok ? '' : ' jp-mod-error')}
          role="status"
        >
          {result.text}
        </div>
      )}
    </fieldset>
  );
}
