/**
 * The profile form's logic, driven only by the schema the kernel sends in `hello`: which
 * fields a scheduler kind shows, how values turn into form text and back, and where
 * validation errors go. Plain TypeScript, unit-tested; no field is named here except
 * `name` and `scheduler`, which every profile has.
 */
import { IFieldSchema, Profile } from './protocol';

/** What the form holds per field: text for inputs and text areas, a boolean for boxes. */
export type FormValue = string | boolean;
export type FormValues = Record<string, FormValue>;
export type FieldErrors = Record<string, string>;

/** Fields that apply to a scheduler kind, in schema order. */
export function visibleFields(
  schema: readonly IFieldSchema[],
  scheduler: string
): IFieldSchema[] {
  return schema.filter(
    f => !f.kinds || f.kinds.length === 0 || f.kinds.includes(scheduler)
  );
}

/** The text of a field's tooltip: what it is, and an example. */
export function tooltipText(field: IFieldSchema): string {
  const example = field.example ? ` Example: ${field.example}` : '';
  return `${field.tooltip}${example}`;
}

function formatScalar(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

/** One field's stored value as form text. */
export function toFormValue(field: IFieldSchema, value: unknown): FormValue {
  if (value === undefined || value === null) {
    value = field.default;
  }
  switch (field.type) {
    case 'bool':
      return value === true || value === 'true';
    case 'lines':
      return Array.isArray(value) ? value.join('\n') : String(value ?? '');
    case 'env':
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        return Object.entries(value as Record<string, unknown>)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join('\n');
      }
      return '';
    case 'resources':
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        return Object.entries(value as Record<string, unknown>)
          .map(([k, v]) => `${k} = ${formatScalar(v)}`)
          .join('\n');
      }
      return '';
    default:
      return value === undefined || value === null ? '' : String(value);
  }
}

/** Form values for a profile (missing fields take the schema's default). */
export function toFormValues(
  schema: readonly IFieldSchema[],
  profile: Partial<Profile> | null
): FormValues {
  const out: FormValues = {};
  for (const field of schema) {
    out[field.name] = toFormValue(field, profile ? profile[field.name] : undefined);
  }
  return out;
}

/** Blank form for a new profile: defaults, no name. */
export function newProfileValues(
  schema: readonly IFieldSchema[],
  scheduler?: string
): FormValues {
  const values = toFormValues(schema, null);
  values.name = '';
  if (scheduler !== undefined) {
    values.scheduler = scheduler;
  }
  return values;
}

function parseNumber(text: string, integer: boolean): number | string {
  const t = text.trim();
  if (t === '') {
    return t;
  }
  const pattern = integer ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  return pattern.test(t) ? Number(t) : t; // the kernel's check explains a bad value
}

function parseResourceValue(text: string): unknown {
  const t = text.trim();
  if (/^[+-]?\d+$/.test(t)) {
    return Number(t);
  }
  if (/^[[{"]/.test(t)) {
    try {
      return JSON.parse(t);
    } catch {
      return t;
    }
  }
  if (/^'.*'$/.test(t)) {
    return t.slice(1, -1);
  }
  return t;
}

/**
 * `key = value` lines (also `key: value`) to a table; errors name the line. A key given
 * on several lines collects its values in a list (one `extra = --option` line each); the
 * kernel refuses a repeated key that takes one value, naming it.
 */
export function parseResources(text: string): {
  value: Record<string, unknown>;
  error?: string;
} {
  const value: Record<string, unknown> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) {
      continue;
    }
    const m = /^([A-Za-z_][A-Za-z0-9_-]*)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) {
      return {
        value,
        error: `line ${i + 1}: write one 'key = value' per line, e.g. 'cores = 4'`
      };
    }
    const key = m[1];
    const parsed = parseResourceValue(m[2]);
    if (Object.prototype.hasOwnProperty.call(value, key)) {
      const before = value[key];
      value[key] = [
        ...(Array.isArray(before) ? before : [before]),
        ...(Array.isArray(parsed) ? parsed : [parsed])
      ];
    } else {
      value[key] = parsed;
    }
  }
  return { value };
}

/**
 * The profile to validate/save: only the fields the chosen scheduler shows (others keep
 * their defaults in the kernel), values converted to their types. Text that cannot be
 * converted is sent as typed so the kernel's message explains it; resource lines that
 * cannot be parsed are reported here as `errors`.
 */
export function fromFormValues(
  schema: readonly IFieldSchema[],
  values: FormValues
): { profile: Profile; errors: FieldErrors } {
  const scheduler = String(values.scheduler ?? '');
  const profile: Record<string, unknown> = {};
  const errors: FieldErrors = {};
  for (const field of visibleFields(schema, scheduler)) {
    const raw = values[field.name];
    switch (field.type) {
      case 'bool':
        profile[field.name] = raw === true;
        break;
      case 'int':
      case 'float':
        profile[field.name] = parseNumber(String(raw ?? ''), field.type === 'int');
        break;
      case 'lines':
      case 'env':
        profile[field.name] = String(raw ?? '')
          .split(/\r?\n/)
          .filter(line => line.trim() !== '');
        break;
      case 'resources': {
        const parsed = parseResources(String(raw ?? ''));
        profile[field.name] = parsed.value;
        if (parsed.error) {
          errors[field.name] = parsed.error;
        }
        break;
      }
      default:
        profile[field.name] = String(raw ?? '');
    }
  }
  return { profile: profile as Profile, errors };
}

/**
 * Split kernel validation errors into the form's fields and the rest (an error about a
 * field the schema does not have, or that the current scheduler hides, is shown at the
 * top so it is never lost).
 */
export function mapErrors(
  schema: readonly IFieldSchema[],
  scheduler: string,
  errors: FieldErrors | undefined
): { fields: FieldErrors; general: string[] } {
  const shown = new Set(visibleFields(schema, scheduler).map(f => f.name));
  const fields: FieldErrors = {};
  const general: string[] = [];
  const labels = new Map(schema.map(f => [f.name, f.label]));
  for (const [name, message] of Object.entries(errors ?? {})) {
    if (shown.has(name)) {
      fields[name] = message;
    } else {
      general.push(`${labels.get(name) ?? name}: ${message}`);
    }
  }
  return { fields, general };
}

/** Errors to display: only for fields the person has touched, unless `all`. */
export function visibleErrors(
  errors: FieldErrors,
  touched: ReadonlySet<string>,
  all: boolean
): FieldErrors {
  if (all) {
    return { ...errors };
  }
  const out: FieldErrors = {};
  for (const [name, message] of Object.entries(errors)) {
    if (touched.has(name)) {
      out[name] = message;
    }
  }
  return out;
}

/** A name for a copy that does not clash with existing profiles. */
export function duplicateName(name: string, existing: readonly string[]): string {
  const base = `${name || 'profile'}-copy`;
  let candidate = base;
  for (let i = 2; existing.includes(candidate); i++) {
    candidate = `${base}${i}`;
  }
  return candidate;
}

/** Simple debounce with cancel, for validate-as-you-type. */
export function debounce<A extends unknown[]>(
  fn: (...args: A) => void,
  wait: number
): ((...args: A) => void) & { cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const wrapped = (...args: A) => {
    if (timer !== null) {
      clearTimeout(timer);
    }
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, wait);
  };
  wrapped.cancel = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
  };
  return wrapped;
}

/**
 * Whether `current` differs from `initial` (what the form opened with): leaving a dirty
 * form asks before dropping the edits. Missing and empty values are the same.
 */
export function isDirty(initial: FormValues, current: FormValues): boolean {
  const keys = new Set([...Object.keys(initial), ...Object.keys(current)]);
  for (const key of keys) {
    const a = initial[key] ?? '';
    const b = current[key] ?? '';
    if (a !== b) {
      return true;
    }
  }
  return false;
}

/** The first field, in form order, that has an error (to focus it), or null. */
export function firstInvalid(
  fields: readonly IFieldSchema[],
  errors: FieldErrors
): string | null {
  const field = fields.find(f => errors[f.name]);
  return field ? field.name : null;
}
