import { spawnSync } from 'child_process';
import * as path from 'path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import {
  debounce,
  duplicateName,
  fromFormValues,
  mapErrors,
  newProfileValues,
  parseResources,
  toFormValues,
  tooltipText,
  visibleErrors,
  visibleFields
} from '../src/form';
import { IFieldSchema } from '../src/protocol';

function f(
  name: string,
  type: IFieldSchema['type'],
  def: unknown,
  kinds = ['local', 'slurm']
): IFieldSchema {
  return {
    name,
    type,
    default: def,
    label: name.toUpperCase(),
    tooltip: `What ${name} is.`,
    example: `ex-${name}`,
    kinds,
    choices: type === 'choice' ? ['local', 'slurm'] : null
  };
}

// The shape of clusterlab.profile.schema(), trimmed to one field of each type.
const SCHEMA: IFieldSchema[] = [
  f('name', 'text', 'local'),
  f('scheduler', 'choice', 'local'),
  f('host', 'text', '', ['slurm']),
  f('port', 'int', 22, ['slurm']),
  f('trust_on_first_use', 'bool', false, ['slurm']),
  f('setup', 'lines', []),
  f('resources', 'resources', {}),
  f('max_concurrent', 'int', 0, ['local']),
  f('poll_interval', 'float', 5.0)
];

describe('visibleFields', () => {
  it('shows the fields whose kinds include the scheduler, in schema order', () => {
    expect(visibleFields(SCHEMA, 'local').map(x => x.name)).toEqual([
      'name',
      'scheduler',
      'setup',
      'resources',
      'max_concurrent',
      'poll_interval'
    ]);
    expect(visibleFields(SCHEMA, 'slurm').map(x => x.name)).toEqual([
      'name',
      'scheduler',
      'host',
      'port',
      'trust_on_first_use',
      'setup',
      'resources',
      'poll_interval'
    ]);
  });

  it('a field without kinds applies to every scheduler', () => {
    expect(visibleFields([f('x', 'text', '', [])], 'anything')).toHaveLength(1);
  });
});

describe('values', () => {
  const profile = {
    name: 'hpc',
    scheduler: 'slurm',
    host: 'login',
    port: 2222,
    trust_on_first_use: true,
    setup: ['module load python', 'source venv/bin/activate'],
    resources: { cores: 4, memory: '8GB', extra: ['--qos=high'] },
    poll_interval: 1.5
  };

  it('round-trips a profile through the form', () => {
    const values = toFormValues(SCHEMA, profile);
    expect(values).toMatchObject({
      port: '2222',
      trust_on_first_use: true,
      setup: 'module load python\nsource venv/bin/activate',
      resources: 'cores = 4\nmemory = 8GB\nextra = ["--qos=high"]',
      max_concurrent: '0'
    });
    const back = fromFormValues(SCHEMA, values);
    expect(back.errors).toEqual({});
    expect(back.profile).toEqual(profile); // max_concurrent is hidden for slurm: not sent
  });

  it('shows env as NAME=VALUE lines and sends the lines (the kernel validates them)', () => {
    const schema = [
      f('name', 'text', 'local'),
      f('scheduler', 'choice', 'local'),
      f('env', 'env', {})
    ];
    const values = toFormValues(schema, {
      name: 'hpc',
      scheduler: 'slurm',
      env: { OMP_NUM_THREADS: '4', GREETING: "it's $(data)" }
    });
    expect(values.env).toBe("OMP_NUM_THREADS=4\nGREETING=it's $(data)");
    const back = fromFormValues(schema, { ...values, env: values.env + '\n\n' });
    expect(back.profile.env).toEqual(['OMP_NUM_THREADS=4', "GREETING=it's $(data)"]);
  });

  it('sends text that is not a number as typed, so the kernel explains it', () => {
    const values = {
      ...toFormValues(SCHEMA, profile),
      port: 'twenty',
      poll_interval: '2e1'
    };
    const { profile: out } = fromFormValues(SCHEMA, values);
    expect(out.port).toBe('twenty');
    expect(out.poll_interval).toBe(20);
  });

  it('new profiles start from the defaults with an empty name', () => {
    const values = newProfileValues(SCHEMA, 'slurm');
    expect(values).toMatchObject({
      name: '',
      scheduler: 'slurm',
      port: '22',
      setup: ''
    });
  });

  it('parses resource lines and reports the bad line', () => {
    expect(
      parseResources("cores = 4\n\n# comment\ntime: '1:00:00'\ngpus=1").value
    ).toEqual({
      cores: 4,
      time: '1:00:00',
      gpus: 1
    });
    const bad = parseResources('cores = 4\nmemory 8GB');
    expect(bad.error).toContain('line 2');
    const { errors } = fromFormValues(SCHEMA, {
      ...newProfileValues(SCHEMA),
      resources: 'oops'
    });
    expect(errors.resources).toContain('line 1');
  });

  it('collects a key given on several lines, so two extra options are both kept', () => {
    const text = 'cores = 4\nextra = --exclusive\nextra = ["--mail-type=END", "--x"]';
    expect(parseResources(text).value).toEqual({
      cores: 4,
      extra: ['--exclusive', '--mail-type=END', '--x']
    });
    const { profile } = fromFormValues(SCHEMA, {
      ...newProfileValues(SCHEMA, 'slurm'),
      resources: 'extra = --qos=high\nextra = --constraint=skylake'
    });
    expect(profile.resources).toEqual({
      extra: ['--qos=high', '--constraint=skylake']
    });
  });

  it('tooltips carry the example', () => {
    expect(tooltipText(SCHEMA[2])).toBe('What host is. Example: ex-host');
    expect(tooltipText({ ...SCHEMA[2], example: '' })).toBe('What host is.');
  });
});

describe('errors', () => {
  it('maps field errors to shown fields and the rest to the top', () => {
    const { fields, general } = mapErrors(SCHEMA, 'local', {
      name: 'use letters',
      host: 'leave host empty',
      bogus: 'unknown profile field'
    });
    expect(fields).toEqual({ name: 'use letters' });
    expect(general).toEqual(['HOST: leave host empty', 'bogus: unknown profile field']);
    expect(mapErrors(SCHEMA, 'slurm', undefined)).toEqual({ fields: {}, general: [] });
  });

  it('shows errors of touched fields while typing, all after Save', () => {
    const errors = { name: 'bad', port: 'bad' };
    expect(visibleErrors(errors, new Set(['port']), false)).toEqual({ port: 'bad' });
    expect(visibleErrors(errors, new Set(), true)).toEqual(errors);
  });

  it('duplicate names do not clash', () => {
    expect(duplicateName('hpc', ['hpc'])).toBe('hpc-copy');
    expect(duplicateName('hpc', ['hpc', 'hpc-copy', 'hpc-copy2'])).toBe('hpc-copy3');
    expect(duplicateName('', [])).toBe('profile-copy');
  });
});

describe('debounce', () => {
  afterEach(() => vi.useRealTimers());

  it('calls once with the last arguments, and can be cancelled', () => {
    vi.useFakeTimers();
    const calls: number[] = [];
    const d = debounce((n: number) => calls.push(n), 300);
    d(1);
    d(2);
    vi.advanceTimersByTime(299);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual([2]);
    d(3);
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(calls).toEqual([2]);
  });
});

// The real schema from the kernel side, when the checkout's Python can import clusterlab.
/**
 * The profile schema as the kernel sends it (`clusterlab.config.profile.schema()`), read
 * with the checkout's Python (`make install-dev`; CLUSTERLAB_PYTHON names another). The
 * contract between the panel's form and the kernel: when it cannot be read, these tests
 * fail and say why, never skip.
 */
function kernelSchema(): IFieldSchema[] {
  const python =
    process.env.CLUSTERLAB_PYTHON ??
    path.join(__dirname, '..', '..', '.venv', 'bin', 'python');
  const run = spawnSync(
    python,
    [
      '-c',
      'import json; from clusterlab.config.profile import schema; print(json.dumps(schema()))'
    ],
    { encoding: 'utf-8', timeout: 120000 }
  );
  if (run.error || run.status !== 0) {
    const why = run.error
      ? run.error.message
      : (run.stderr || '').trim().split('\n').pop();
    throw new Error(
      `cannot read the kernel's profile schema with ${python} (${why}): run ` +
        '`make install-dev` (or set CLUSTERLAB_PYTHON to a Python with clusterlab)'
    );
  }
  return JSON.parse(run.stdout) as IFieldSchema[];
}

let cachedSchema: IFieldSchema[] | null = null;

/** Read once; each test that needs it fails with the reason when it cannot be read. */
function schemaOnce(): IFieldSchema[] {
  cachedSchema ??= kernelSchema();
  return cachedSchema;
}

describe('the kernel schema', () => {
  it('has a tooltip and a known type for every field', () => {
    const schema = schemaOnce();
    const types = [
      'text',
      'choice',
      'int',
      'float',
      'bool',
      'lines',
      'env',
      'resources'
    ];
    for (const field of schema) {
      expect(field.tooltip, field.name).toBeTruthy();
      expect(types, field.name).toContain(field.type);
    }
  });

  it('shows SSH fields only for slurm and round-trips its defaults', () => {
    const schema = schemaOnce();
    expect(visibleFields(schema, 'local').map(x => x.name)).not.toContain('host');
    expect(visibleFields(schema, 'slurm').map(x => x.name)).toContain('host');
    const values = toFormValues(schema, { name: 'x', scheduler: 'slurm' });
    const { profile, errors } = fromFormValues(schema, values);
    expect(errors).toEqual({});
    for (const field of visibleFields(schema, 'slurm')) {
      if (field.type === 'env') {
        // sent as NAME=VALUE lines (the kernel reads them into its table): none
        expect(field.default, field.name).toEqual({});
        expect(profile[field.name], field.name).toEqual([]);
      } else if (field.name !== 'name' && field.name !== 'scheduler') {
        expect(profile[field.name], field.name).toEqual(field.default);
      }
    }
  });
});
