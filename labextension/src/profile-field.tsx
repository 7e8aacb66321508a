/**
 * One profile field: its label, a help mark whose tooltip says what the field is for
 * (title + accessible description), the input its schema type asks for, and its error.
 */
import * as React from 'react';

import { tooltipText } from './form';
import { IFieldSchema } from './protocol';

export interface IFieldProps {
  field: IFieldSchema;
  value: string | boolean | undefined;
  error?: string;
  choices: string[] | null;
  readOnly: boolean;
  onChange: (value: string | boolean) => void;
}

/** One field: label, help icon with the tooltip (title + accessible description), input. */
export function Field(props: IFieldProps): JSX.Element {
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
