import { describe, expect, it } from 'vitest';

import { resourceValue, withResource } from '../src/cluster-pickers';
import { parseResources } from '../src/form';

describe('the pickers write into the resources text', () => {
  const text = 'cores = 4\nmemory = "8GB"\npartition = "debug"';

  it('reads the value a key has, unquoted', () => {
    expect(resourceValue(text, 'partition')).toBe('debug');
    expect(resourceValue(text, 'account')).toBe('');
  });

  it('sets, replaces and removes one key, keeping the others', () => {
    const gpu = withResource(text, 'partition', 'gpu');
    expect(gpu).toBe('cores = 4\nmemory = "8GB"\npartition = gpu');
    expect(parseResources(gpu).value).toEqual({
      cores: 4,
      memory: '8GB',
      partition: 'gpu'
    });
    expect(withResource(gpu, 'account', 'physics')).toContain('account = physics');
    expect(withResource(gpu, 'partition', '')).toBe('cores = 4\nmemory = "8GB"');
  });
});
