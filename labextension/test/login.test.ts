import { describe, expect, it } from 'vitest';

import {
  ILoginPrompt,
  ILoginState,
  LoginPrompts,
  LoginStates,
  describeLogin,
  loginActions,
  logsIn,
  parsePrompt,
  promptTitle
} from '../src/login';
import { IMessage } from '../src/protocol';

function push(data: Record<string, unknown>): IMessage {
  return { v: 1, type: 'login.prompt', id: null, data };
}

const PROMPT = {
  prompt_id: 'p1',
  profile: 'hpc',
  host: 'login.example.edu',
  prompt: "One-time password (OATH) for `jdoe': ",
  secret: true
};

/** A deferred answer the test gives when it likes. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>(r => (resolve = r));
  return { promise, resolve };
}

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

describe('describeLogin', () => {
  it('says what the profile card shows', () => {
    const s = (state: string, extra: Partial<ILoginState> = {}): ILoginState => ({
      logged_in: state === 'logged in',
      state,
      ...extra
    });
    expect(describeLogin(s('logged in', { left: '6 h 40 min' }))).toBe(
      'logged in, 6 h 40 min left'
    );
    expect(describeLogin(s('logged in', { left: null }))).toBe('logged in');
    expect(describeLogin(s('needs a login'))).toBe('needs a login');
    expect(describeLogin(s('expired'))).toBe('expired');
    expect(describeLogin(s('local'))).toBe('');
    expect(describeLogin(undefined)).toBe('');
    expect(describeLogin(s('per-process', { logged_in: null }))).toMatch(/alone/);
  });

  it('offers Log in when not logged in and Log out when logged in', () => {
    expect(loginActions({ logged_in: false, state: 'needs a login' })).toEqual({
      login: true,
      logout: false
    });
    expect(loginActions({ logged_in: false, state: 'expired' }).login).toBe(true);
    expect(loginActions({ logged_in: true, state: 'logged in' })).toEqual({
      login: false,
      logout: true
    });
    for (const state of ['local', 'per-process']) {
      expect(loginActions({ logged_in: null, state })).toEqual({
        login: false,
        logout: false
      });
    }
  });

  it('asks a login state only of profiles with a host', () => {
    expect(logsIn({ name: 'hpc', host: 'login' })).toBe(true);
    expect(logsIn({ name: 'local', host: '' })).toBe(false);
    expect(logsIn({ name: 'k8s' })).toBe(false);
  });
});

describe('login.prompt', () => {
  it('parses the push and names the profile and host in the title', () => {
    const prompt = parsePrompt(PROMPT) as ILoginPrompt;
    expect(promptTitle(prompt)).toBe('Log in to hpc (login.example.edu)');
    expect(parsePrompt({ ...PROMPT, secret: false })?.secret).toBe(false);
    // a prompt that does not say is hidden: the safe side
    expect(parsePrompt({ prompt_id: 'x', prompt: 'Code:' })?.secret).toBe(true);
    expect(parsePrompt({ prompt: 'no id' })).toBeNull();
  });

  it('sends the typed answer once, with its prompt id, and keeps it nowhere', async () => {
    const sent: Array<[string, Record<string, unknown>]> = [];
    const answered: string[] = [];
    const prompts = new LoginPrompts(
      async prompt => {
        expect(prompt.prompt).toBe(PROMPT.prompt);
        return '123456';
      },
      async (type, data) => {
        sent.push([type, data]);
        return { accepted: true } as any;
      },
      prompt => answered.push(prompt.prompt_id)
    );
    expect(prompts.handle(push(PROMPT))).toBe(true);
    await flush();
    expect(sent).toEqual([['login.answer', { prompt_id: 'p1', answer: '123456' }]]);
    expect(answered).toEqual(['p1']);
    expect(JSON.stringify(prompts)).not.toContain('123456');
  });

  it('answers null when the dialog is cancelled or cannot be shown', async () => {
    const sent: Array<Record<string, unknown>> = [];
    let calls = 0;
    const prompts = new LoginPrompts(
      async () => {
        calls++;
        if (calls === 1) {
          return null;
        }
        throw new Error('no dialog');
      },
      async (_, data) => {
        sent.push(data);
        return {} as any;
      }
    );
    prompts.handle(push(PROMPT));
    await flush();
    prompts.handle(push({ ...PROMPT, prompt_id: 'p2' }));
    await flush();
    expect(sent).toEqual([
      { prompt_id: 'p1', answer: null },
      { prompt_id: 'p2', answer: null }
    ]);
  });

  it('shows one dialog at a time: a second prompt waits for the first answer', async () => {
    const shown: string[] = [];
    const answers = [deferred<string | null>(), deferred<string | null>()];
    const sent: unknown[] = [];
    const prompts = new LoginPrompts(
      prompt => {
        shown.push(prompt.prompt_id);
        return answers[shown.length - 1].promise;
      },
      async (_, data) => {
        sent.push(data.prompt_id);
        return {} as any;
      }
    );
    prompts.handle(push(PROMPT));
    prompts.handle(push({ ...PROMPT, prompt_id: 'p2', profile: 'other' }));
    await flush();
    expect(shown).toEqual(['p1']);
    expect(prompts.waiting).toBe(1);
    answers[0].resolve('a');
    await flush();
    expect(shown).toEqual(['p1', 'p2']);
    answers[1].resolve('b');
    await flush();
    expect(sent).toEqual(['p1', 'p2']);
  });

  it('leaves other pushes alone and ignores a prompt without an id', async () => {
    let asked = 0;
    const prompts = new LoginPrompts(
      async () => {
        asked++;
        return '';
      },
      async () => ({}) as any
    );
    expect(prompts.handle({ v: 1, type: 'job.event', id: null, data: {} })).toBe(false);
    expect(prompts.handle(push({ prompt: 'x' }))).toBe(true);
    await flush();
    expect(asked).toBe(0);
  });

  it('a kernel gone before the answer arrives is no error', async () => {
    const prompts = new LoginPrompts(
      async () => '654321',
      async () => {
        throw new Error('the comm is closed');
      }
    );
    prompts.handle(push(PROMPT));
    await flush();
    expect(prompts.waiting).toBe(0);
  });
});

describe('LoginStates', () => {
  const loggedIn: ILoginState = {
    shared: true,
    logged_in: true,
    state: 'logged in',
    expires: 2000000000,
    left: '6 h 40 min',
    methods: ['publickey', 'keyboard-interactive']
  };
  const needs: ILoginState = { shared: true, logged_in: false, state: 'needs a login' };

  it('reads each state, and forgets profiles no longer listed', async () => {
    const asked: unknown[] = [];
    let changes = 0;
    const states = new LoginStates(
      async (type, data) => {
        asked.push([type, data.name]);
        return (data.name === 'a' ? loggedIn : needs) as any;
      },
      () => changes++
    );
    await states.refresh(['a', 'b']);
    expect(asked).toEqual([
      ['profiles.login_state', 'a'],
      ['profiles.login_state', 'b']
    ]);
    expect(describeLogin(states.get('a').state)).toBe('logged in, 6 h 40 min left');
    expect(states.get('b').state?.state).toBe('needs a login');
    expect(changes).toBe(2);
    await states.refresh(['a']);
    expect(states.get('b')).toEqual({});
  });

  it('Log in is busy until the reply, waits without a timeout, then shows the state', async () => {
    const reply = deferred<any>();
    const seen: Array<[string, unknown]> = [];
    const states = new LoginStates(
      (type, _, options) => {
        seen.push([type, options?.timeout]);
        return reply.promise;
      },
      () => undefined
    );
    const done = states.login('a');
    expect(states.get('a').busy).toBe('login');
    expect(seen).toEqual([['profiles.login', 0]]);
    reply.resolve(loggedIn);
    await done;
    expect(states.get('a')).toEqual({ state: loggedIn });
  });

  it('a failed login says so and reads the state again', async () => {
    const asked: string[] = [];
    const states = new LoginStates(
      async type => {
        asked.push(type);
        if (type === 'profiles.login') {
          throw new Error('Permission denied (keyboard-interactive)');
        }
        return needs as any;
      },
      () => undefined
    );
    await states.login('a');
    await flush();
    expect(states.get('a').error).toBe(
      'Not logged in: Permission denied (keyboard-interactive)'
    );
    expect(states.get('a').busy).toBeUndefined();
    expect(asked).toEqual(['profiles.login', 'profiles.login_state']);
  });

  it('Log out shows the state the kernel replies with', async () => {
    const states = new LoginStates(
      async () => ({ was_logged_in: true, ...needs }) as any,
      () => undefined
    );
    await states.logout('a');
    expect(states.get('a')).toEqual({ state: needs });
    expect(describeLogin(states.get('a').state)).toBe('needs a login');
  });
});
