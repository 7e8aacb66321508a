/**
 * A profile card's "Start a notebook on this cluster": a button that opens a small form
 * with the kernel's resources (cores, memory, time, GPUs, partition; a tooltip on each,
 * from the kernel's `kernels.list`), and Start, which installs or reuses the kernelspec
 * and opens a new notebook with it (notebook-start.ts). Empty fields take the profile's
 * default resources.
 */
import * as React from 'react';

import { KernelValues, startNotebook } from './notebook-start';
import { PanelModel } from './model';
import { HelpMark } from './profile-field';
import { IKernelField } from './protocol';

export function StartNotebook(props: {
  model: PanelModel;
  profile: string;
}): JSX.Element {
  const { model, profile } = props;
  const [open, setOpen] = React.useState(false);
  const [fields, setFields] = React.useState<IKernelField[] | null>(null);
  const [values, setValues] = React.useState<KernelValues>({});
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [status, setStatus] = React.useState('');
  const [busy, setBusy] = React.useState(false);

  const show = async () => {
    setOpen(!open);
    if (open || fields) {
      return;
    }
    try {
      setFields((await model.kernelList()).fields);
    } catch (err) {
      setStatus(`Could not read the kernel fields: ${(err as Error).message}`);
    }
  };

  const start = async () => {
    setBusy(true);
    setStatus(`Making the kernel of '${profile}'…`);
    const outcome = await startNotebook(
      (type, data) => model.link.request(type, data),
      name => model.openNotebook(name),
      profile,
      values
    );
    setErrors(outcome.errors);
    setStatus(outcome.status);
    setBusy(false);
  };

  const base = `clusterlab-kernel-${profile}`;
  return (
    <div className="jp-clusterlab-startNotebook" data-profile={profile}>
      <button
        className="jp-clusterlab-button jp-mod-small"
        aria-expanded={open}
        title={`Open a new notebook whose kernel runs in a job of '${profile}'`}
        onClick={() => void show()}
      >
        Start a notebook on this cluster
      </button>
      {open && fields && (
        <form
          className="jp-clusterlab-kernelForm"
          aria-label={`Notebook kernel on '${profile}'`}
          onSubmit={e => {
            e.preventDefault();
            void start();
          }}
        >
          {fields.map(field => {
            const id = `${base}-${field.name}`;
            const error = errors[field.name];
            const tip = `${field.tooltip} Example: ${field.example}`;
            return (
              <div
                key={field.name}
                className="jp-clusterlab-field"
                data-field={field.name}
              >
                <div className="jp-clusterlab-labelRow">
                  <label htmlFor={id} className="jp-clusterlab-label">
                    {field.label}
                  </label>
                  <HelpMark label={field.label} tip={tip} tipId={`${id}-help`} />
                </div>
                <input
                  id={id}
                  name={field.name}
                  type="text"
                  title={tip}
                  placeholder={field.example}
                  spellCheck={false}
                  autoComplete="off"
                  aria-describedby={error ? `${id}-help ${id}-error` : `${id}-help`}
                  aria-invalid={error ? true : undefined}
                  className={'jp-clusterlab-input' + (error ? ' jp-mod-invalid' : '')}
                  value={values[field.name] ?? ''}
                  onChange={e => {
                    setValues({ ...values, [field.name]: e.target.value });
                    // the message was about the old value
                    setErrors(({ [field.name]: _, ...rest }) => rest);
                    setStatus('');
                  }}
                />
                {error && (
                  <div
                    id={`${id}-error`}
                    className="jp-clusterlab-fieldError"
                    role="alert"
                  >
                    {error}
                  </div>
                )}
              </div>
            );
          })}
          <button
            type="submit"
            className="jp-clusterlab-button"
            disabled={busy}
            title="Install (or reuse) this profile's kernel with these resources and open a notebook with it"
          >
            {busy ? 'Starting…' : 'Start'}
          </button>
        </form>
      )}
      {status && (
        <div className="jp-clusterlab-kernelStatus" role="status">
          {status}
        </div>
      )}
    </div>
  );
}
