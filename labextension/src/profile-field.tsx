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
        <HelpMark label={field.label} tip={tip} tipId={helpId} />
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
 * The "?" beside a label and its bubble (WCAG 1.4.13): it opens on hover and on keyboard
 * focus, Enter or Space toggle it, Esc closes it without moving focus, and the pointer may
 * move onto it. The open bubble is a copy of the help text placed on the page's body
 * against the viewport, above or below the mark and as wide as the field: JupyterLab's
 * panels have `contain: strict`, which clips anything inside them (even `position:
 * fixed`), so a bubble inside the panel was cut at the 250 px sidebar's edges. The text
 * in the field (visually hidden) stays the mark's accessible description.
 */
export function HelpMark(props: {
  label: string;
  tip: string;
  tipId: string;
}): JSX.Element {
  const ref = React.useRef<HTMLSpanElement>(null);
  const [open, setOpen] = React.useState(false);
  const closing = React.useRef<ReturnType<typeof setTimeout> | null>(null);
  const keep = () => {
    if (closing.current !== null) {
      clearTimeout(closing.current);
      closing.current = null;
    }
  };
  const show = () => {
    keep();
    setOpen(true);
  };
  const hide = () => {
    keep();
    setOpen(false);
  };
  // Leaving the mark for the bubble crosses a small gap: wait before closing.
  const hideSoon = () => {
    keep();
    closing.current = setTimeout(() => setOpen(false), 300);
  };
  React.useEffect(() => keep, []);
  React.useEffect(() => {
    if (!open || !ref.current) {
      return;
    }
    const bubble = document.createElement('div');
    bubble.className = 'jp-clusterlab-bubble jp-mod-open';
    bubble.setAttribute('role', 'tooltip');
    bubble.setAttribute('aria-hidden', 'true'); // the field's own copy is the description
    bubble.dataset.help = props.tipId;
    bubble.textContent = props.tip;
    Object.assign(bubble.style, tipPlacement(ref.current));
    bubble.addEventListener('mouseenter', keep);
    bubble.addEventListener('mouseleave', () => {
      if (ref.current !== document.activeElement) {
        hideSoon();
      }
    });
    document.body.appendChild(bubble);
    return () => bubble.remove();
  }, [open, props.tip]);
  return (
    <span
      ref={ref}
      className={'jp-clusterlab-help' + (open ? ' jp-mod-open' : '')}
      tabIndex={0}
      role="button"
      aria-label={`Help: ${props.label}`}
      aria-expanded={open}
      aria-describedby={props.tipId}
      onMouseEnter={show}
      onMouseLeave={() => {
        if (ref.current !== document.activeElement) {
          hideSoon();
        }
      }}
      onFocus={show}
      onBlur={hide}
      onKeyDown={e => {
        if (e.key === 'Escape' && open) {
          e.preventDefault();
          e.stopPropagation();
          hide();
        } else if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          if (open) {
            hide();
          } else {
            show();
          }
        }
      }}
    >
      <span aria-hidden="true">?</span>
      <span id={props.tipId} className="jp-clusterlab-tip" role="tooltip">
        {props.tip}
      </span>
    </span>
  );
}

const TIP_GAP = 4;
const TIP_MARGIN = 8;

/** Where an open bubble goes: as wide as its field (inside the panel), below the mark if
 * the viewport has room there for the longest tips (Default resources needs ~370 px at the
 * default sidebar width) or more room than above, else above; its
 * height is capped by that room (it scrolls past it). */
function tipPlacement(help: HTMLElement): Partial<CSSStyleDeclaration> {
  const field = help.closest('.jp-clusterlab-field') ?? help;
  const box = field.getBoundingClientRect();
  const mark = help.getBoundingClientRect();
  const below = window.innerHeight - mark.bottom - TIP_GAP - TIP_MARGIN;
  const above = mark.top - TIP_GAP - TIP_MARGIN;
  const left = Math.max(TIP_MARGIN, box.left);
  const width = Math.min(
    Math.max(160, box.width),
    window.innerWidth - left - TIP_MARGIN
  );
  const style: Partial<CSSStyleDeclaration> = {
    left: `${left}px`,
    width: `${width}px`
  };
  if (below >= 400 || below >= above) {
    style.top = `${mark.bottom + TIP_GAP}px`;
    style.maxHeight = `${below}px`;
  } else {
    style.bottom = `${window.innerHeight - mark.top + TIP_GAP}px`;
    style.maxHeight = `${above}px`;
  }
  return style;
}
