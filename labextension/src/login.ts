/**
 * Logins in the panel: the state each profile's shared login is in (`profiles.login_state`),
 * the Log in / Log out actions, and the kernel's `login.prompt` pushes (a one-time code or
 * a password the server asks for) answered one at a time with `login.answer`.
 * Plain TypeScript (no JupyterLab imports): tested in labextension/test/login.test.ts; the
 * dialog itself is login-dialog.ts.
 *
 * An answer is handed to the kernel once and kept nowhere: not in this module's state, a
 * log, or an error text.
 */
import { IMessage } from './protocol';

/** `login.prompt`: a login started in this kernel waits for an answer. */
export interface ILoginPrompt {
  prompt_id: string;
  profile: string;
  host: string;
  /** The server's own prompt text ("One-time password (OATH) for `jdoe': "). */
  prompt: string;
  /** Hide what is typed (a password or code); false for e.g. "Passcode or option (1-3)". */
  secret: boolean;
}

/** The `profiles.login_state` reply (python/clusterlab/transports/login_state.py). */
export interface ILoginState {
  shared?: boolean;
  logged_in: boolean | null;
  state: 'logged in' | 'needs a login' | 'expired' | 'local' | 'per-process' | string;
  /** Seconds since the epoch, or null. */
  expires?: number | null;
  /** "6 h 40 min", or null. */
  left?: string | null;
  methods?: string[];
  client?: string;
}

/** What the profile row says about the login ('' for a profile on this machine). */
export function describeLogin(state: ILoginState | undefined): string {
  if (!state || state.state === 'local') {
    return '';
  }
  if (state.state === 'logged in') {
    return state.left ? `logged in, ${state.left} left` : 'logged in';
  }
  if (state.state === 'per-process') {
    return 'each notebook logs in alone (paramiko)';
  }
  return state.state; // 'needs a login', 'expired'
}

/** The actions a profile row offers for its login. */
export function loginActions(state: ILoginState | undefined): {
  login: boolean;
  logout: boolean;
} {
  const known = state?.state;
  return {
    login: known === 'needs a login' || known === 'expired',
    logout: known === 'logged in'
  };
}

/** Whether a login applies to a profile at all: it logs in to a host over SSH. */
export function logsIn(item: Record<string, unknown>): boolean {
  return typeof item.host === 'string' && item.host.trim() !== '';
}

/** Sends a request over the comm (PanelModel's link.request). */
export type SendRequest = <T = any>(
  type: string,
  data: Record<string, unknown>,
  options?: { timeout?: number }
) => Promise<T>;

/** The login state of each profile and what the panel is doing about it. */
export interface ILoginRow {
  state?: ILoginState;
  /** 'login' or 'logout' while that request runs. */
  busy?: 'login' | 'logout';
  /** Why the last Log in / Log out failed (kept until the next one). */
  error?: string;
  /** Why the state could not be read (cleared by the next read). */
  readError?: string;
}

/**
 * Login states of the listed profiles, read without logging in, and the Log in / Log out
 * actions; `onChange` is called after each change so the view redraws.
 */
export class LoginStates {
  constructor(
    private readonly request: SendRequest,
    private readonly onChange: () => void
  ) {}

  get(name: string): ILoginRow {
    return this._rows.get(name) ?? {};
  }

  /** Read the state of each named profile (never prompts); forget the others. */
  async refresh(names: string[]): Promise<void> {
    for (const old of [...this._rows.keys()]) {
      if (!names.includes(old)) {
        this._rows.delete(old);
      }
    }
    await Promise.all(names.map(name => this.refreshOne(name)));
  }

  async refreshOne(name: string): Promise<void> {
    try {
      const state = await this.request<ILoginState>('profiles.login_state', { name });
      this._set(name, { ...this.get(name), state, readError: undefined });
    } catch (err) {
      this._set(name, {
        ...this.get(name),
        readError: `Could not read the login state: ${(err as Error).message}`
      });
    }
  }

  /** Log in now: the server's prompts arrive meanwhile as `login.prompt`. */
  async login(name: string): Promise<void> {
    this._set(name, { ...this.get(name), busy: 'login', error: undefined });
    try {
      // Logging in waits for a person to type a code: no request timeout.
      const state = await this.request<ILoginState>(
        'profiles.login',
        { name },
        { timeout: 0 }
      );
      this._set(name, { state });
    } catch (err) {
      this._set(name, {
        state: this.get(name).state,
        error: `Not logged in: ${(err as Error).message}`
      });
      void this.refreshOne(name);
    }
  }

  /** End the shared login for every notebook, the panel and the CLI. */
  async logout(name: string): Promise<void> {
    this._set(name, { ...this.get(name), busy: 'logout', error: undefined });
    try {
      const reply = await this.request<ILoginState & { was_logged_in: boolean }>(
        'profiles.logout',
        { name }
      );
      const state: ILoginState = { ...reply };
      delete (state as Partial<typeof reply>).was_logged_in;
      this._set(name, { state });
    } catch (err) {
      this._set(name, {
        state: this.get(name).state,
        error: `Not logged out: ${(err as Error).message}`
      });
    }
  }

  private _set(name: string, row: ILoginRow): void {
    this._rows.set(name, row);
    this.onChange();
  }

  private readonly _rows = new Map<string, ILoginRow>();
}

/** Shows one prompt; resolves with the answer, or null when dismissed. */
export type AskFunction = (prompt: ILoginPrompt) => Promise<string | null>;

/**
 * Answers the kernel's `login.prompt` pushes, one dialog at a time (a second login's
 * prompt waits for the first to be answered), each answer sent once with `login.answer`.
 */
export class LoginPrompts {
  constructor(
    private readonly ask: AskFunction,
    private readonly request: SendRequest,
    /** Called after each answer (the row's state may have changed). */
    private readonly onAnswered: (prompt: ILoginPrompt) => void = () => undefined
  ) {}

  /** Prompts waiting for their dialog (the one shown not counted). */
  get waiting(): number {
    return this._queue.length;
  }

  /** Route one pushed message; true when it was a `login.prompt`. */
  handle(message: IMessage): boolean {
    if (message.type !== 'login.prompt' || !message.data) {
      return false;
    }
    const prompt = parsePrompt(message.data);
    if (prompt) {
      this._queue.push(prompt);
      void this._next();
    }
    return true;
  }

  private async _next(): Promise<void> {
    if (this._showing) {
      return;
    }
    const prompt = this._queue.shift();
    if (!prompt) {
      return;
    }
    this._showing = true;
    try {
      let answer: string | null = null;
      try {
        answer = await this.ask(prompt);
      } catch {
        answer = null; // the dialog could not be shown: the login hears "dismissed"
      }
      try {
        await this.request('login.answer', {
          prompt_id: prompt.prompt_id,
          answer
        });
      } catch {
        // The kernel went away: its login is over, nobody to tell. The answer is not
        // put in any message here.
      }
      this.onAnswered(prompt);
    } finally {
      this._showing = false;
      void this._next();
    }
  }

  private _queue: ILoginPrompt[] = [];
  private _showing = false;
}

/** A well-formed prompt from a push's data, or null. */
export function parsePrompt(data: any): ILoginPrompt | null {
  if (!data || typeof data.prompt_id !== 'string' || !data.prompt_id) {
    return null;
  }
  return {
    prompt_id: data.prompt_id,
    profile: String(data.profile ?? ''),
    host: String(data.host ?? ''),
    prompt: String(data.prompt ?? ''),
    secret: data.secret !== false
  };
}

/** The dialog's title: which profile and which host ask. */
export function promptTitle(prompt: ILoginPrompt): string {
  const where = prompt.host ? ` (${prompt.host})` : '';
  return `Log in to ${prompt.profile || 'a cluster'}${where}`;
}
