/**
 * The panel's own background kernel: a python3 session at a fixed path, so a reload of the
 * page (or a second tab) reuses its kernel instead of starting another. Used by the
 * kernel link when no notebook kernel serves the panel.
 */
import { Session } from '@jupyterlab/services';

/** The background kernel's session path. */
export const BACKGROUND_PATH = '.clusterlab-panel';

/** The background session if the server runs it already; null otherwise. Starts nothing
 * (what the link uses while it only watches). */
export async function existingBackground(
  sessions: Session.IManager
): Promise<Session.ISessionConnection | null> {
  let model: Session.IModel | undefined;
  try {
    model = await sessions.findByPath(BACKGROUND_PATH);
  } catch {
    return null;
  }
  if (!model || !model.kernel) {
    return null;
  }
  const session = sessions.connectTo({ model });
  if (!session.kernel) {
    session.dispose();
    return null;
  }
  return session;
}

/** The background session: the running one, else a new python3 kernel. */
export async function openBackground(
  sessions: Session.IManager
): Promise<Session.ISessionConnection> {
  const session =
    (await existingBackground(sessions)) ??
    (await sessions.startNew({
      path: BACKGROUND_PATH,
      name: 'Clusters panel',
      type: 'clusterlab',
      kernel: { name: 'python3' }
    }));
  if (!session.kernel) {
    throw new Error('the session has no kernel');
  }
  return session;
}
