import { describe, expect, it } from 'vitest';
import { defaultConfig } from './config.js';

describe('agent defaults', () => {
  it('keeps ACLs and the audit log off by default, in -dev and outside it', () => {
    for (const dev of [true, false]) {
      expect(defaultConfig(dev).acl).toEqual({ enabled: false });
      expect(defaultConfig(dev).audit.enabled).toBe(false);
    }
  });

  it('bind the API to loopback outside -dev too, until bind_addr says otherwise', () => {
    expect(defaultConfig(false).bindAddr).toBe('127.0.0.1');
    expect(defaultConfig(true).bindAddr).toBe('127.0.0.1');
  });

  it('leave raw_exec off outside -dev', () => {
    expect(defaultConfig(false).plugins).toEqual({});
  });
});
