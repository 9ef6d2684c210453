import { describe, expect, it } from 'vitest';
import { defaultConfig } from './config.js';

describe('agent defaults', () => {
  it('keeps ACLs and the audit log off by default, in -dev and outside it', () => {
    for (const dev of [true, false]) {
      expect(defaultConfig(dev).acl).toEqual({ enabled: false });
      expect(defaultConfig(dev).audit.enabled).toBe(false);
    }
  });
});
