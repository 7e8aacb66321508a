/**
 * Profiles view: the saved profiles (built-in `local` first) and a form generated from
 * the schema the kernel sends, with a tooltip on every field, validation as you type,
 * Save / Delete / Duplicate and Test connection. This file decides which profile the
 * form edits and asks before unsaved edits are lost; the list, the form (its
 * `useProfileForm` hook), a field and the connection test each have their own file.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import {
  FormValues,
  duplicateName,
  isDirty,
  newProfileValues,
  toFormValues
} from './form';
import { PanelModel } from './model';
import { StartNotebook } from './notebook-start-view';
import { ProfileForm } from './profile-form';
import { ProfileList } from './profile-list';
import { ProfileTransfer } from './profile-transfer';
import { IProfileItem } from './protocol';
import { IEditing } from './use-profile-form';

export function ProfilesView(props: { model: PanelModel }): JSX.Element {
  const { model } = props;
  const hello = model.hello;
  const [editing, setEditing] = React.useState<IEditing | null>(null);
  const keyRef = React.useRef(0);

  // The form's live values (to know whether leaving it loses edits) and its Save.
  const draft = React.useRef<FormValues | null>(null);
  const saveDraft = React.useRef<(() => Promise<boolean>) | null>(null);

  const open = React.useCallback(
    (values: FormValues, original: string | null, builtin: boolean, status = '') => {
      draft.current = null;
      setEditing({ key: ++keyRef.current, values, original, builtin, status });
    },
    []
  );

  /** Run `next` unless the form has unsaved edits the user wants to keep (asks first). */
  const leaveForm = async (next: () => void): Promise<void> => {
    if (!editing || !draft.current || !isDirty(editing.values, draft.current)) {
      next();
      return;
    }
    const what =
      editing.original === null
        ? 'The new profile has unsaved changes.'
        : `Profile '${editing.original}' has unsaved changes.`;
    const answer = await showDialog({
      title: 'Unsaved changes',
      body: `${what} Save them, discard them, or cancel to keep editing.`,
      buttons: [
        Dialog.cancelButton(),
        Dialog.warnButton({ label: 'Discard' }),
        Dialog.okButton({ label: 'Save' })
      ],
      defaultButton: 2
    });
    if (answer.button.label === 'Discard') {
      next();
    } else if (answer.button.label === 'Save' && saveDraft.current) {
      if (await saveDraft.current()) {
        next();
      }
    }
  };

  const select = (item: IProfileItem) => {
    if (!hello || editing?.original === item.name) {
      return;
    }
    void leaveForm(() => {
      model.selectedProfile = item.name;
      open(toFormValues(hello.schema, item), item.name, !!item.builtin);
    });
  };

  // Keep the form on the selected profile when the list reloads (e.g. after a save).
  React.useEffect(() => {
    if (!hello || !editing || editing.original === null) {
      return;
    }
    if (!model.profiles.some(p => p.name === editing.original)) {
      setEditing(null);
    }
  }, [model.profiles]);

  if (!hello) {
    return (
      <div className="jp-clusterlab-empty">
        Connecting to a kernel… Profiles appear when the kernel answers.
      </div>
    );
  }

  return (
    <div className="jp-clusterlab-profiles">
      <div className="jp-clusterlab-row">
        <ProfileList
          profiles={model.profiles}
          selected={editing?.original ?? null}
          onSelect={select}
          login={name => model.logins.get(name)}
          onLogin={name => void model.logins.login(name)}
          onLogout={name => void model.logins.logout(name)}
          extra={item => <StartNotebook model={model} profile={item.name} />}
        />
      </div>
      {model.profilesError && (
        <div className="jp-clusterlab-error" role="alert">
          {model.profilesError}
        </div>
      )}
      <div className="jp-clusterlab-row">
        <button
          className="jp-clusterlab-button"
          onClick={() =>
            void leaveForm(() => {
              model.selectedProfile = null;
              open(newProfileValues(hello.schema), null, false);
            })
          }
        >
          New profile
        </button>
      </div>
      {editing && (
        <ProfileForm
          key={editing.key}
          model={model}
          schema={hello.schema}
          schedulers={hello.schedulers}
          editing={editing}
          onValues={values => (draft.current = values)}
          saveRef={saveDraft}
          onDuplicate={values =>
            open(
              {
                ...values,
                name: duplicateName(
                  String(values.name),
                  model.profiles.map(p => p.name)
                )
              },
              null,
              false
            )
          }
          onSaved={(values, name) => {
            model.selectedProfile = name;
            open(values, name, name === 'local', `Saved '${name}'.`);
          }}
          onDeleted={() => setEditing(null)}
          remoteKinds={hello.schema.find(f => f.name === 'host')?.kinds ?? []}
        />
      )}
      <ProfileTransfer model={model} />
    </div>
  );
}
