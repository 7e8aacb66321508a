/**
 * Profiles view: the saved profiles (built-in `local` first) and a form generated from
 * the schema the kernel sends, with a tooltip on every field, validation as you type,
 * Save / Delete / Duplicate and Test connection.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import {
  FieldErrors,
  FormValues,
  debounce,
  duplicateName,
  firstInvalid,
  isDirty,
  fromFormValues,
  mapErrors,
  newProfileValues,
  toFormValues,
  tooltipText,
  visibleErrors,
  visibleFields
} from './form';
import { PanelModel } from './model';
import { ICheckLine, IFieldSchema, IProfileItem } from './protocol';
import { RequestError } from './requests';

/** A save that did not happen is said in the error colour, never the success one. */
const NOT_SAVED = 'Not saved:';

/** What the form edits: a saved profile, or a new/duplicated one (`original` null). */
interface IEditing {
  key: number;
  values: FormValues;
  original: string | null;
  builtin: boolean;
  status?: string;
}

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
        <ul className="jp-clusterlab-profileList" aria-label="Saved profiles">
          {model.profiles.map(item => (
            <li key={item.name}>
              <button
                className={
                  'jp-clusterlab-profileItem' +
                  (editing?.original === item.name ? ' jp-mod-selected' : '')
                }
                aria-pressed={editing?.original === item.name}
                data-profile={item.name}
                title={`Edit profile '${item.name}' (${String(item.scheduler)})`}
                onClick={() => select(item)}
              >
                <span className="jp-clusterlab-profileName">{item.name}</span>
                <span className="jp-clusterlab-profileKind">
                  {String(item.scheduler)}
                  {item.host ? ` · ${String(item.host)}` : ''}
                  {item.builtin ? ' · built-in' : ''}
                </span>
              </button>
            </li>
          ))}
        </ul>
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
        />
      )}
    </div>
  );
}

interface IFormProps {
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
}

type CheckState = {
  running: boolean;
  lines: ICheckLine[];
  result: '' | 'ok' | 'fail';
  error: string;
};

function ProfileForm(props: IFormProps): JSX.Element {
  const { model, schema, editing } = props;
  const [values, setValues] = React.useState<FormValues>(editing.values);
  const [errors, setErrors] = React.useState<FieldErrors>({});
  const [touched, setTouched] = React.useState<Set<string>>(new Set());
  const [showAll, setShowAll] = React.useState(false);
  const [general, setGeneral] = React.useState<string[]>([]);
  const [status, setStatus] = React.useState(editing.status ?? '');
  const [busy, setBusy] = React.useState(false);
  const [check, setCheck] = React.useState<CheckState>({
    running: false,
    lines: [],
    result: '',
    error: ''
  });
  const seq = React.useRef(0);
  const mounted = React.useRef(true);
  // Feedback below the fold is scrolled into view; a failed Save focuses the first
  // invalid field (or the error at the top when no field is to blame).
  const statusRef = React.useRef<HTMLDivElement>(null);
  const generalRef = React.useRef<HTMLDivElement>(null);
  const checkRef = React.useRef<HTMLDivElement>(null);
  const [focusTick, setFocusTick] = React.useState(0);
  React.useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const scheduler = String(values.scheduler ?? '');
  const fields = visibleFields(schema, scheduler);

  const runValidate = React.useMemo(
    () =>
      debounce((current: FormValues) => {
        const { profile, errors: local } = fromFormValues(schema, current);
        const mine = ++seq.current;
        model
          .validate(profile)
          .then(result => {
            if (!mounted.current || mine !== seq.current) {
              return;
            }
            const mapped = mapErrors(schema, String(current.scheduler), result.errors);
            setErrors({ ...mapped.fields, ...local });
            setGeneral(mapped.general);
          })
          .catch(() => undefined); // validation is advisory; Save reports for real
      }, 350),
    [schema, model]
  );
  React.useEffect(() => () => runValidate.cancel(), [runValidate]);

  React.useEffect(() => {
    statusRef.current?.scrollIntoView({ block: 'nearest' });
  }, [status]);
  React.useEffect(() => {
    // The newest part of the test (a line while it runs, then the verdict) is what to see.
    const view = checkRef.current;
    const newest =
      view?.querySelector(
        '.jp-clusterlab-checkResult, .jp-clusterlab-check > .jp-clusterlab-error'
      ) ??
      view?.querySelector('.jp-clusterlab-checkLine:last-child, .jp-clusterlab-muted');
    newest?.scrollIntoView({ block: 'nearest' });
  }, [check]);
  React.useEffect(() => {
    if (focusTick === 0) {
      return;
    }
    const name = firstInvalid(fields, errors);
    const input = name ? document.getElementById(`clusterlab-field-${name}`) : null;
    if (input) {
      input.scrollIntoView({ block: 'center' });
      input.focus({ preventScroll: true });
    } else {
      generalRef.current?.scrollIntoView({ block: 'nearest' });
    }
  }, [focusTick]);

  const change = (name: string, value: string | boolean) => {
    const next = { ...values, [name]: value };
    props.onValues(next);
    setValues(next);
    setTouched(prev => new Set(prev).add(name));
    setStatus('');
    runValidate(next);
  };

  /** Save; resolves true when saved (false: the form shows why). */
  const save = async (): Promise<boolean> => {
    runValidate.cancel();
    seq.current++;
    const { profile, errors: local } = fromFormValues(schema, values);
    setShowAll(true);
    if (Object.keys(local).length) {
      setErrors(local);
      setStatus(`${NOT_SAVED} fix the fields marked in red.`);
      setFocusTick(t => t + 1);
      return false;
    }
    setBusy(true);
    try {
      const saved = await model.save(profile, editing.original);
      if (!mounted.current) {
        return true;
      }
      props.onSaved(toFormValues(schema, saved), saved.name);
      return true;
    } catch (err) {
      if (!mounted.current) {
        return false;
      }
      const fieldsErr = err instanceof RequestError ? err.fields : {};
      const mapped = mapErrors(schema, scheduler, fieldsErr);
      setErrors(mapped.fields);
      setGeneral(
        Object.keys(fieldsErr).length ? mapped.general : [(err as Error).message]
      );
      setStatus(`${NOT_SAVED} fix the fields marked in red.`);
      setFocusTick(t => t + 1);
      return false;
    } finally {
      if (mounted.current) {
        setBusy(false);
      }
    }
  };

  props.saveRef.current = save;

  const remove = async () => {
    const name = editing.original;
    if (!name) {
      return;
    }
    const answer = await showDialog({
      title: 'Delete profile',
      body: `Delete the profile '${name}'? Jobs already submitted keep running.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await model.remove(name);
      props.onDeleted();
    } catch (err) {
      setGeneral([(err as Error).message]);
    }
  };

  const testConnection = async () => {
    const { profile, errors: local } = fromFormValues(schema, values);
    if (Object.keys(local).length) {
      setShowAll(true);
      setErrors(local);
      setFocusTick(t => t + 1);
      return;
    }
    setCheck({ running: true, lines: [], result: '', error: '' });
    try {
      const { report } = await model.check({ profile }, line => {
        if (mounted.current) {
          setCheck(prev => ({ ...prev, lines: [...prev.lines, line] }));
        }
      });
      if (mounted.current) {
        setCheck({
          running: false,
          lines: report.lines,
          result: report.ok ? 'ok' : 'fail',
          error: ''
        });
      }
    } catch (err) {
      if (!mounted.current) {
        return;
      }
      const fieldsErr = err instanceof RequestError ? err.fields : {};
      if (Object.keys(fieldsErr).length) {
        setShowAll(true);
        setErrors(mapErrors(schema, scheduler, fieldsErr).fields);
      }
      setCheck(prev => ({
        ...prev,
        running: false,
        result: 'fail',
        error: (err as Error).message
      }));
    }
  };

  const shown = visibleErrors(errors, touched, showAll);
  const title =
    editing.original === null ? 'New profile' : `Profile '${editing.original}'`;

  return (
    <form
      className="jp-clusterlab-form"
      aria-label={title}
      onSubmit={e => {
        e.preventDefault();
        void save();
      }}
    >
      <h3 className="jp-clusterlab-formTitle">{title}</h3>
      {general.length > 0 && (
        <div className="jp-clusterlab-error" role="alert" ref={generalRef}>
          {general.map(g => (
            <div key={g}>{g}</div>
          ))}
        </div>
      )}
      {fields.map(field => (
        <Field
          key={field.name}
          field={field}
          value={values[field.name]}
          error={shown[field.name]}
          choices={field.name === 'scheduler' ? props.schedulers : field.choices}
          readOnly={editing.builtin && field.name === 'name'}
          onChange={value => change(field.name, value)}
        />
      ))}
      <div className="jp-clusterlab-actions">
        <button
          type="submit"
          className="jp-clusterlab-button jp-mod-accept"
          disabled={busy}
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
          onClick={() => void remove()}
        >
          Delete
        </button>
        <button
          type="button"
          className="jp-clusterlab-button"
          disabled={check.running}
          onClick={() => void testConnection()}
        >
          {check.running ? 'Testing…' : 'Test connection'}
        </button>
      </div>
      {status && (
        <div
          className={`jp-clusterlab-status${status.startsWith(NOT_SAVED) ? ' jp-mod-error' : ''}`}
          role="status"
          ref={statusRef}
        >
          {status}
        </div>
      )}
      {(check.running || check.lines.length > 0 || check.error) && (
        <div ref={checkRef}>
          <CheckView check={check} />
        </div>
      )}
    </form>
  );
}

function CheckView(props: { check: CheckState }): JSX.Element {
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

interface IFieldProps {
  field: IFieldSchema;
  value: string | boolean | undefined;
  error?: string;
  choices: string[] | null;
  readOnly: boolean;
  onChange: (value: string | boolean) => void;
}

/** One field: label, help icon with the tooltip (title + accessible description), input. */
function Field(props: IFieldProps): JSX.Element {
  const { field, value, error, choices } = props;
  const id = `clusterlab-field-${field.name}`;
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const tip = tooltipText(field);
  const describedBy = error ? `${helpId} ${errorId}` : helpId;
  const [above, setAbove] = React.useState(false);
  const common = {
    id,
    name: field.name,
    title: tip,
    'aria-describedby': describedBy,
    'aria-invalid': error ? true : undefined,
    className: 'jp-clusterlab-input' + (error ? ' jp-mod-invalid' : '')
  };
  let input: JSX.Element;
  switch (field.type) {
    case 'bool':
      input = (
        <input
          {...common}
          type="checkbox"
          className="jp-clusterlab-checkbox"
          checked={value === true}
          onChange={e => props.onChange(e.target.checked)}
        />
      );
      break;
    case 'choice':
      input = (
        <select
          {...common}
          value={String(value ?? '')}
          onChange={e => props.onChange(e.target.value)}
        >
          {(choices ?? []).map(c => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      );
      break;
    case 'lines':
    case 'env':
    case 'resources':
      input = (
        <textarea
          {...common}
          rows={field.type === 'resources' ? 3 : 2}
          placeholder={
            field.type === 'resources'
              ? 'cores = 4\nmemory = 8GB\ntime = 1:00:00'
              : field.example
          }
          value={String(value ?? '')}
          onChange={e => props.onChange(e.target.value)}
        />
      );
      break;
    default:
      input = (
        <input
          {...common}
          type="text"
          inputMode={
            field.type === 'int'
              ? 'numeric'
              : field.type === 'float'
                ? 'decimal'
                : undefined
          }
          placeholder={field.example}
          readOnly={props.readOnly}
          spellCheck={false}
          autoComplete="off"
          value={String(value ?? '')}
          onChange={e => props.onChange(e.target.value)}
        />
      );
  }
  return (
    <div
      className={'jp-clusterlab-field' + (field.type === 'bool' ? ' jp-mod-bool' : '')}
      data-field={field.name}
    >
      <div className="jp-clusterlab-labelRow">
        <label htmlFor={id} className="jp-clusterlab-label">
          {field.label}
        </label>
        <span
          className={'jp-clusterlab-help' + (above ? ' jp-mod-above' : '')}
          tabIndex={0}
          onMouseEnter={e => setAbove(tipGoesAbove(e.currentTarget))}
          onFocus={e => setAbove(tipGoesAbove(e.currentTarget))}
          title={tip}
          aria-label={`Help: ${field.label}`}
          role="button"
        >
          <span aria-hidden="true">?</span>
          <span id={helpId} className="jp-clusterlab-tip" role="tooltip">
            {tip}
          </span>
        </span>
      </div>
      {input}
      {error && (
        <div id={errorId} className="jp-clusterlab-fieldError" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

/**
 * Whether a help mark's popup should open above its field: when it does not fit below
 * it inside the scrolled section (the last fields) and there is more room above.
 */
function tipGoesAbove(help: HTMLElement): boolean {
  const section = help.closest('.jp-clusterlab-section');
  const field = help.closest('.jp-clusterlab-field');
  const tip = help.querySelector('.jp-clusterlab-tip');
  if (!section || !field || !tip) {
    return false;
  }
  const box = section.getBoundingClientRect();
  const row = help.getBoundingClientRect();
  const height = tip.getBoundingClientRect().height;
  const below = box.bottom - row.bottom;
  const aboveRoom = field.getBoundingClientRect().top - box.top;
  return height > below && aboveRoom > below;
}
