/**
 * The dialog for a server's login prompt (a one-time code, a password): the profile and
 * host in the title, the server's own prompt text, a hidden input for secrets, "Log in"
 * (Enter) and "Cancel". Plain DOM, not React state: the typed value lives only in the
 * input, which is emptied the moment the dialog reads it.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ILoginPrompt, promptTitle } from './login';

/** The dialog's body: the prompt and the input; `getValue` reads it once and empties it. */
export class LoginPromptBody extends Widget implements Dialog.IBodyWidget<string> {
  constructor(prompt: ILoginPrompt) {
    super();
    this.addClass('jp-clusterlab-loginPrompt');
    const id = `clusterlab-login-${prompt.prompt_id}`;
    const text = document.createElement('label');
    text.className = 'jp-clusterlab-loginPromptText';
    text.htmlFor = id;
    // The server's words, as sent (textContent: never parsed as HTML).
    text.textContent = prompt.prompt.trim() || 'The server asks for an answer:';
    const where = document.createElement('p');
    where.className = 'jp-clusterlab-muted';
    where.textContent =
      `${prompt.host || 'The server'} asks this to log in profile ` +
      `'${prompt.profile}'. The answer goes to the server only; it is not saved.`;
    this._input = document.createElement('input');
    this._input.id = id;
    this._input.className = 'jp-clusterlab-input jp-clusterlab-loginAnswer';
    this._input.type = prompt.secret ? 'password' : 'text';
    this._input.autocomplete = prompt.secret ? 'one-time-code' : 'off';
    this._input.spellcheck = false;
    this._input.title = prompt.secret
      ? 'What the server asks for (hidden as you type); Enter logs in'
      : 'What the server asks for; Enter logs in';
    this.node.append(text, this._input, where);
  }

  /** The typed answer, read once: the input is emptied in the same step. */
  getValue(): string {
    const value = this._input.value;
    this._input.value = '';
    return value;
  }

  protected onBeforeDetach(): void {
    this._input.value = ''; // closed without reading (Escape, Cancel): nothing stays
  }

  private readonly _input: HTMLInputElement;
}

/** Show the prompt; the answer, or null when the person cancelled or closed it. */
export async function askInDialog(prompt: ILoginPrompt): Promise<string | null> {
  const body = new LoginPromptBody(prompt);
  const result = await showDialog<string>({
    title: promptTitle(prompt),
    body,
    focusNodeSelector: 'input',
    buttons: [
      Dialog.cancelButton({
        label: 'Cancel',
        caption: 'Do not answer: this login fails and says so'
      }),
      Dialog.okButton({
        label: 'Log in',
        caption: 'Send the answer to the server (Enter)'
      })
    ],
    defaultButton: 1
  });
  if (!result.button.accept) {
    body.getValue(); // empty the input
    return null;
  }
  return result.value ?? '';
}
