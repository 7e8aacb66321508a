import { PageConfig } from '@jupyterlab/coreutils';
import { describe, expect, it } from 'vitest';

import { firstInvalid, isDirty } from '../src/form';
import {
  SUBSHELL_MESSAGE_TYPES,
  untrackSubshellStatus,
  withUntracked
} from '../src/kernelstatus';
import { IFieldSchema } from '../src/protocol';

function field(name: string): IFieldSchema {
  return {
    name,
    type: 'str',
    default: '',
    label: name,
    tooltip: '',
    example: '',
    kinds: [],
    choices: null
  };
}

describe('isDirty', () => {
  it('is false for the values the form opened with', () => {
    expect(
      isDirty(
        { name: 'a', port: '22', agent: true },
        { name: 'a', port: '22', agent: true }
      )
    ).toBe(false);
  });
  it('is true after an edit, a cleared field or a toggled box', () => {
    expect(isDirty({ name: 'a' }, { name: 'ab' })).toBe(true);
    expect(isDirty({ name: 'a' }, { name: '' })).toBe(true);
    expect(isDirty({ agent: false }, { agent: true })).toBe(true);
  });
  it('treats a missing value and an empty one alike', () => {
    expect(isDirty({ name: 'a' }, { name: 'a', host: '' })).toBe(false);
  });
});

describe('firstInvalid', () => {
  const fields = ['name', 'scheduler', 'host', 'port'].map(field);
  it('is the first field in form order with an error', () => {
    expect(firstInvalid(fields, { port: 'bad', host: 'bad' })).toBe('host');
  });
  it('is null when no shown field is to blame', () => {
    expect(firstInvalid(fields, {})).toBeNull();
    expect(firstInvalid(fields, { hidden: 'not shown' })).toBeNull();
  });
});

describe('kernel status: subshell messages are untracked', () => {
  it('adds the comm and subshell types once, keeping the server list', () => {
    const once = withUntracked('["kernel_info_request"]', SUBSHELL_MESSAGE_TYPES);
    const list = JSON.parse(once) as string[];
    expect(list[0]).toBe('kernel_info_request');
    expect(list).toContain('comm_msg');
    expect(list).toContain('create_subshell_request');
    expect(withUntracked(once, SUBSHELL_MESSAGE_TYPES)).toBe(once);
  });
  it('survives an absent or malformed option', () => {
    expect(JSON.parse(withUntracked('', ['comm_msg']))).toEqual(['comm_msg']);
    expect(JSON.parse(withUntracked('{oops', ['comm_msg']))).toEqual(['comm_msg']);
  });
  it('sets the page option JupyterLab reads for every status message', () => {
    PageConfig.setOption('untracked_message_types', '["status"]');
    untrackSubshellStatus();
    const list = JSON.parse(
      PageConfig.getOption('untracked_message_types')
    ) as string[];
    expect(list).toEqual(['status', ...SUBSHELL_MESSAGE_TYPES]);
  });
});
