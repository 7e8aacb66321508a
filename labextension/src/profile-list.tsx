/**
 * The saved profiles as buttons (built-in `local` first, as the kernel sends them): one
 * press opens a profile in the form; the open one is marked pressed.
 */
import * as React from 'react';

import { IProfileItem } from './protocol';

export interface IProfileListProps {
  profiles: IProfileItem[];
  /** The name of the profile open in the form, if any. */
  selected: string | null;
  onSelect: (item: IProfileItem) => void;
}

export function ProfileList(props: IProfileListProps): JSX.Element {
  return (
    <ul className="jp-clusterlab-profileList" aria-label="Saved profiles">
      {props.profiles.map(item => (
        <li key={item.name}>
          <button
            className={
              'jp-clusterlab-profileItem' +
              (props.selected === item.name ? ' jp-mod-selected' : '')
            }
            aria-pressed={props.selected === item.name}
            data-profile={item.name}
            title={`Edit profile '${item.name}' (${String(item.scheduler)})`}
            onClick={() => props.onSelect(item)}
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
  );
}
