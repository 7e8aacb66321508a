/**
 * The profile form's pickers fed by discovery (comm `cluster.info`): partition, account
 * and QOS chosen from what the cluster offers, each partition's option titled with its
 * limits and load, and "When would it start?" (`cluster.estimate`). A choice is written
 * into the form's resources text (`partition = gpu`), which stays the one place the
 * request is kept and saved. When the cluster cannot be asked, no picker is shown and
 * the reason is: the resources text stays free text.
 */
import * as React from 'react';

import { PanelModel } from './model';

/** What `cluster.info` replies (docs/comm-protocol.md). */
interface IPartitionInfo {
  name: string;
  summary: string;
  default: boolean;
}

interface IClusterInfoReply {
  info: {
    partitions: IPartitionInfo[];
    default: string | null;
    accounts: string[];
    qos: string[];
  } | null;
  why: string;
}

interface IEstimateReply {
  estimate: { start: string | null; reason: string; text: string };
}

const PICKED = [
  ['partition', 'Partition'],
  ['account', 'Account'],
  ['qos', 'QOS']
] as const;
type PickedKey = (typeof PICKED)[number][0];

/** The `key = value` lines of the resources text, as [key, rest-of-line] pairs. */
function resourceLines(text: string): [string, string][] {
  return text
    .split(/\r?\n/)
    .filter(line => line.trim() !== '')
    .map(line => {
      const at = line.indexOf('=');
      return at < 0
        ? [line.trim(), '']
        : [line.slice(0, at).trim(), line.slice(at + 1).trim()];
    });
}

/** The value the resources text gives `key` ('' when it names none). */
export function resourceValue(text: string, key: string): string {
  const found = resourceLines(text).find(([k]) => k === key);
  return found ? found[1].replace(/^["']|["']$/g, '') : '';
}

/** The resources text with `key` set to `value` ('' removes the key). */
export function withResource(text: string, key: string, value: string): string {
  const lines = text.split(/\r?\n/).filter(line => line.trim() !== '');
  const kept = lines.filter(line => line.split('=')[0].trim() !== key);
  return (value ? [...kept, `${key} = ${value}`] : kept).join('\n');
}

export interface IClusterPickersProps {
  model: PanelModel;
  /** The saved profile's name (discovery asks about saved profiles). */
  name: string;
  resources: string;
  onResources: (text: string) => void;
}

export function ClusterPickers(props: IClusterPickersProps): JSX.Element {
  const [info, setInfo] = React.useState<IClusterInfoReply['info']>(null);
  const [status, setStatus] = React.useState('');
  const [busy, setBusy] = React.useState(false);

  const lookUp = async (): Promise<void> => {
    setBusy(true);
    setStatus('Asking the cluster…');
    try {
      const reply = await props.model.link.request<IClusterInfoReply>(
        'cluster.info',
        { name: props.name },
        { timeout: 0 }
      );
      setInfo(reply.info);
      setStatus(
        reply.info
          ? [
              reply.info.default ? `default partition: ${reply.info.default}` : '',
              reply.why
            ]
              .filter(Boolean)
              .join('; ')
          : `Type the partition and account in resources: ${reply.why}`
      );
    } catch (err) {
      setStatus(
        `Type the partition and account in resources: ${(err as Error).message}`
      );
    } finally {
      setBusy(false);
    }
  };

  const when = async (): Promise<void> => {
    setBusy(true);
    setStatus('Asking the scheduler…');
    const resources: Record<string, string> = {};
    for (const [key, value] of resourceLines(props.resources)) {
      if (key !== 'extra') {
        resources[key] = value.replace(/^["']|["']$/g, '');
      }
    }
    try {
      const reply = await props.model.link.request<IEstimateReply>(
        'cluster.estimate',
        { name: props.name, resources },
        { timeout: 0 }
      );
      setStatus(reply.estimate.text);
    } catch (err) {
      setStatus(`No estimate: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  const options = (
    key: PickedKey
  ): { value: string; label: string; title: string }[] => {
    if (!info) {
      return [];
    }
    if (key === 'partition') {
      return info.partitions.map(p => ({
        value: p.name,
        label: p.name + (p.default ? ' (default)' : ''),
        title: p.summary
      }));
    }
    const names = key === 'account' ? info.accounts : info.qos;
    return names.map(n => ({ value: n, label: n, title: n }));
  };

  return (
    <div className="jp-clusterlab-pickers" aria-label="What the cluster offers">
      <div className="jp-clusterlab-actions">
        <button
          type="button"
          className="jp-clusterlab-button"
          disabled={busy}
          title="Ask the cluster (or this machine's recent answer) which partitions, accounts and QOS it offers"
          onClick={() => void lookUp()}
        >
          Look up the cluster
        </button>
        <button
          type="button"
          className="jp-clusterlab-button"
          disabled={busy}
          title="Ask the scheduler when a job with these resources would start (nothing is queued)"
          onClick={() => void when()}
        >
          When would it start?
        </button>
      </div>
      {info &&
        PICKED.map(([key, label]) => {
          const choices = options(key);
          if (choices.length === 0) {
            return null;
          }
          const current = resourceValue(props.resources, key);
          const chosen = choices.find(c => c.value === current);
          return (
            <label key={key} className="jp-clusterlab-picker">
              <span className="jp-clusterlab-pickerLabel">{label}</span>
              <select
                name={`clusterlab-picker-${key}`}
                className="jp-clusterlab-input"
                value={current}
                title={chosen?.title ?? `${label} as in resources`}
                onChange={e =>
                  props.onResources(withResource(props.resources, key, e.target.value))
                }
              >
                <option value="">(as in resources)</option>
                {current && !chosen && (
                  <option
                    value={current}
                  >{`${current} (not offered by the cluster)`}</option>
                )}
                {choices.map(c => (
                  <option key={c.value} value={c.value} title={c.title}>
                    {c.label}
                  </option>
                ))}
              </select>
            </label>
          );
        })}
      {status && (
        <div className="jp-clusterlab-status jp-clusterlab-pickersStatus" role="status">
          {status}
        </div>
      )}
    </div>
  );
}
