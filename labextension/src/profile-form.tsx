/**
 * The profile form's view: the fields the chosen scheduler uses, Save / Duplicate /
 * Delete / Test connection, the save status and the connection test. Its state and
 * actions live in `useProfileForm`.
 */
import * as React from 'react';

import { CheckView } from './check-view';
import { ClusterPickers } from './cluster-pickers';
import { KeySetup } from './key-setup';
import { FormValues } from './form';
import { PanelModel } from './model';
import { Field } from './profile-field';
import { IFieldSchema } from './protocol';
import { IEditing, NOT_SAVED, useProfileForm } from './use-profile-form';

export interface IProfileFormProps {
  model: PanelModel;
  schema: IFieldSchema[];
  schedulers: string[];
  editing: IEditing;
  /** The values as edited, after each change. */
  onValues: (values: FormValues) => void;
  /** Set to the form's Save (resolves true when saved) for the unsaved-changes dialog. */
  saveRef: React.MutableRefObject<(() => Promise<boolean>) | null>;
  onDuplicate: (values: FormValues) => void;
  onSaved: (values: FormValues, name: string) => void;
  onDeleted: () => void;
  /** Schedulers whose profiles may name a host (the SSH fields apply). */
  remoteKinds: string[];
}

export function ProfileForm(props: IProfileFormProps): JSX.Element {
  const { editing } = props;
  const form = useProfileForm(props);
  const { values, check, status, general } = form;
  props.saveRef.current = form.save;

  const title =
    editing.original === null ? 'New profile' : `Profile '${editing.original}'`;

  return (
    <form
      className="jp-clusterlab-form"
      aria-label={title}
      onSubmit={e => {
        e.preventDefault();
        void form.save();
      }}
    >
      <h3 className="jp-clusterlab-formTitle">{title}</h3>
      {general.length > 0 && (
        <div className="jp-clusterlab-error" role="alert" ref={form.generalRef}>
          {general.map(g => (
            <div key={g}>{g}</div>
          ))}
        </div>
      )}
      {form.fields.map(field => (
        <Field
          key={field.name}
          field={field}
          value={values[field.name]}
          error={form.shown[field.name]}
          choices={field.name === 'scheduler' ? props.schedulers : field.choices}
          readOnly={editing.builtin && field.name === 'name'}
          onChange={value => form.change(field.name, value)}
        />
      ))}
      {editing.original !== null && values.scheduler !== 'local' && (
        <ClusterPickers
          model={props.model}
          name={editing.original}
          resources={String(values.resources ?? '')}
          onResources={text => form.change('resources', text)}
        />
      )}
      <div className="jp-clusterlab-actions">
        <button
          type="submit"
          className="jp-clusterlab-button jp-mod-accept"
          disabled={form.busy}
        >
          Save
        </button>
        <button
          type="button"
          className="jp-clusterlab-button"
          onClick={() => props.onDuplicate(values)}
        >
          Duplicate
        </button>
        <button
          type="button"
          className="jp-clusterlab-button jp-mod-warn"
          disabled={editing.original === null || editing.builtin}
          title={editing.builtin ? 'The built-in profile cannot be deleted' : undefined}
          onClick={() => void form.remove()}
        >
          Delete
        </button>
        <button
          type="button"
          className="jp-clusterlab-button"
          disabled={check.running}
          onClick={() => void form.testConnection()}
        >
          {check.running ? 'Testing…' : 'Test connection'}
        </button>
      </div>
      {status && (
        <div
          className={`jp-clusterlab-status${status.startsWith(NOT_SAVED) ? ' jp-mod-error' : ''}`}
          role="status"
          ref={form.statusRef}
        >
          {status}
        </div>
      )}
      {(check.running || check.lines.length > 0 || check.error) && (
        <div ref={form.checkRef}>
          <CheckView check={check} />
        </div>
      )}
      {props.remoteKinds.includes(String(values.scheduler)) && Boolean(values.host) && (
        <KeySetup
          model={props.model}
          schema={props.schema}
          values={values}
          onSaved={(name, keyFile) =>
            props.onSaved({ ...values, key_file: keyFile }, name)
          }
        />
      )}
    </form>
  );
}
