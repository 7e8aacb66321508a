/**
 * "Start a notebook on this cluster", without the widgets: ask the kernel to install (or
 * reuse) the profile's kernelspec for the form's resources, then open a notebook with it.
 * Values are sent as typed; Python's own checks answer, and their messages come back by
 * field. Plain TypeScript (no JupyterLab imports) so it is unit-tested on its own.
 */
import { RequestError } from './requests';
import { IKernelInstall } from './protocol';

export type KernelValues = Record<string, string>;

export type Requester = (type: string, data: Record<string, unknown>) => Promise<any>;

/** What a press of Start ended with: a sentence, and each bad field's message. */
export interface IStartOutcome {
  ok: boolean;
  status: string;
  errors: Record<string, string>;
  kernel: string | null;
}

/** The form's values without blanks: an empty field takes the profile's default. */
export function chosenResources(values: KernelValues): KernelValues {
  const out: KernelValues = {};
  for (const [key, value] of Object.entries(values)) {
    if (value.trim() !== '') {
      out[key] = value.trim();
    }
  }
  return out;
}

/**
 * Install or reuse the kernelspec, then `open` a notebook with it. Every failure ends as
 * a sentence (and, for bad values, messages by field); nothing is thrown.
 */
export async function startNotebook(
  request: Requester,
  open: (kernelName: string) => Promise<void>,
  profile: string,
  values: KernelValues
): Promise<IStartOutcome> {
  let reply: IKernelInstall;
  try {
    reply = await request('kernels.install', {
      profile,
      resources: chosenResources(values)
    });
  } catch (err) {
    const fields = err instanceof RequestError ? err.fields : {};
    const message = (err as Error).message;
    return {
      ok: false,
      status: Object.keys(fields).length
        ? 'Fix the marked values, then press Start again.'
        : `Could not make the kernel of '${profile}': ${message}`,
      errors: fields,
      kernel: null
    };
  }
  const { kernel, reused } = reply;
  try {
    await open(kernel.name);
  } catch (err) {
    return {
      ok: false,
      status: `Kernel '${kernel.name}' is ready, but no notebook opened: ${(err as Error).message}`,
      errors: {},
      kernel: kernel.name
    };
  }
  const how = reused ? 'reused' : 'installed';
  return {
    ok: true,
    status: `Opened a notebook on ${kernel.display_name} (kernel '${kernel.name}', ${how}); its job waits in the queue until the kernel starts.`,
    errors: {},
    kernel: kernel.name
  };
}
