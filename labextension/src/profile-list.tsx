/**
 * The saved profiles as buttons (built-in `local` first, as the kernel sends them): one
 * press opens a profile in the form; the open one is marked pressed. A profile that logs
 * in to a host also shows its login's state and a Log in or Log out action (login.ts).
 */
import * as React from 'react';

import { ILoginRow, describeLogin, loginActions } from './login';
import { IProfileItem } from './protocol';

export interface IProfileListProps {
  profiles: IProfileItem[];
  /** The name of the profile open in the form, if any. */
  selected: string | null;
  onSelect: (item: IProfileItem) => void;
  /** The login row of a profile (state, request running, error). */
  login: (name: string) => ILoginRow;
  onLogin: (name: string) => void;
  onLogout: (name: string) => void;
  /** More of a profile's card (its "Start a notebook on this cluster"). */
  extra?: (item: IProfileItem) => React.ReactNode;
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
          <LoginRow
            name={item.name}
            row={props.login(item.name)}
            onLogin={props.onLogin}
            onLogout={props.onLogout}
          />
          {props.extra?.(item)}
        </li>
      ))}
    </ul>
  );
}

/** A profile's login: its state in words, Log in / Log out, and why one failed. */
function LoginRow(props: {
  name: string;
  row: ILoginRow;
  onLogin: (name: string) => void;
  onLogout: (name: string) => void;
}): JSX.Element | null {
  const { name, row } = props;
  const text = describeLogin(row.state);
  const error = row.error ?? row.readError;
  if (!text && !error) {
    return null;
  }
  const actions = loginActions(row.state);
  const state = row.state?.state ?? 'unknown';
  return (
    <div className="jp-clusterlab-login" data-profile={name} data-login-state={state}>
      {text && (
        <span
          className="jp-clusterlab-loginState"
          role="status"
          title={loginTooltip(row)}
          aria-label={`Login of '${name}': ${text}`}
        >
          {text}
        </span>
      )}
      {(actions.login || row.busy === 'login') && (
        <button
          className="jp-clusterlab-button jp-mod-small"
          disabled={!!row.busy}
          title={`Log in to '${name}' now; a one-time code or password the server asks for is asked here`}
          aria-label={
            row.busy === 'login' ? `Logging in to '${name}'` : `Log in to '${name}'`
          }
          onClick={() => props.onLogin(name)}
        >
          {row.busy === 'login' ? 'Logging in…' : 'Log in'}
        </button>
      )}
      {(actions.logout || row.busy === 'logout') && (
        <button
          className="jp-clusterlab-button jp-mod-small"
          disabled={!!row.busy}
          title={`End the shared login of '${name}' for every notebook, this panel and the CLI`}
          aria-label={
            row.busy === 'logout' ? `Logging out of '${name}'` : `Log out of '${name}'`
          }
          onClick={() => props.onLogout(name)}
        >
          {row.busy === 'logout' ? 'Logging out…' : 'Log out'}
        </button>
      )}
      {error && (
        <div className="jp-clusterlab-error" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

function loginTooltip(row: ILoginRow): string {
  const state = row.state;
  if (!state) {
    return '';
  }
  if (state.state === 'per-process') {
    return 'The paramiko client logs in once per process: no shared login to show or end';
  }
  const how = state.methods?.length ? ` with ${state.methods.join(' + ')}` : '';
  if (state.state === 'logged in') {
    const until = state.expires
      ? `, until ${new Date(state.expires * 1000).toLocaleTimeString()}`
      : '';
    return `Logged in${how}${until}, shared by every notebook, this panel and the CLI`;
  }
  return state.state === 'expired'
    ? 'The shared login has ended: the next use (or Log in) asks again'
    : 'Not logged in: the next use (or Log in) asks for what the server needs';
}
