/**
 * The state of the profile form: its values, validation as you type (the kernel's
 * `validate`, debounced, newest answer wins), Save, Delete and Test connection, and
 * where to scroll or focus after each. The view (profile-form.tsx) only draws it.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { CheckState, NO_CHECK } from './check-view';
import {
  FieldErrors,
  FormValues,
  debounce,
  firstInvalid,
  fromFormValues,
  mapErrors,
  toFormValues,
  visibleErrors,
  visibleFields
} from './form';
import { PanelModel } from './model';
import { IFieldSchema } from './protocol';
import { RequestError } from './requests';

/** A save that did not happen is said in the error colour, never the success one. */
export const NOT_SAVED = 'Not saved:';

/** What the form edits: a saved profile, or a new/duplicated one (`original` null). */
export interface IEditing {
  key: number;
  values: FormValues;
  original: string | null;
  builtin: boolean;
  status?: string;
}

export interface IProfileFormOptions {
  model: PanelModel;
  schema: IFieldSchema[];
  editing: IEditing;
  /** The values as edited, after each change. */
  onValues: (values: FormValues) => void;
  onSaved: (values: FormValues, name: string) => void;
  onDeleted: () => void;
}

/** What the form's view needs: state to draw, actions for its buttons, refs to place. */
export interface IProfileForm {
  values: FormValues;
  /** The fields the chosen scheduler uses, in schema order. */
  fields: IFieldSchema[];
  /** The errors to show now (touched fields, or all after a Save). */
  shown: FieldErrors;
  /** Errors that no field is to blame for. */
  general: string[];
  status: string;
  busy: boolean;
  check: CheckState;
  change: (name: string, value: string | boolean) => void;
  /** Save; resolves true when saved (false: the form shows why). */
  save: () => Promise<boolean>;
  remove: () => Promise<void>;
  testConnection: () => Promise<void>;
  statusRef: React.RefObject<HTMLDivElement>;
  generalRef: React.RefObject<HTMLDivElement>;
  checkRef: React.RefObject<HTMLDivElement>;
}

export function useProfileForm(options: IProfileFormOptions): IProfileForm {
  const { model, schema, editing } = options;
  const [values, setValues] = React.useState<FormValues>(editing.values);
  const [errors, setErrors] = React.useState<FieldErrors>({});
  const [touched, setTouched] = React.useState<Set<string>>(new Set());
  const [showAll, setShowAll] = React.useState(false);
  const [general, setGeneral] = React.useState<string[]>([]);
  const [status, setStatus] = React.useState(editing.status ?? '');
  const [busy, setBusy] = React.useState(false);
  const [check, setCheck] = React.useState<CheckState>(NO_CHECK);
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
    options.onValues(next);
    setValues(next);
    setTouched(prev => new Set(prev).add(name));
    setStatus('');
    runValidate(next);
  };

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
      options.onSaved(toFormValues(schema, saved), saved.name);
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
      options.onDeleted();
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

  return {
    values,
    fields,
    shown: visibleErrors(errors, touched, showAll),
    general,
    status,
    busy,
    check,
    change,
    save,
    remove,
    testConnection,
    statusRef,
    generalRef,
    checkRef
  };
}
