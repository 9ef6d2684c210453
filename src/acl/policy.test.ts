import { describe, expect, it } from 'vitest';
import { isDroverError } from '../errors/index.js';
import { ACL } from './acl.js';
import { parsePolicyRules } from './policy.js';

const full = `
namespace "default" {
  policy = "read"
  capabilities = ["submit-job"]
}
namespace "web-*" {
  capabilities = ["list-jobs", "read-job"]
  variables {
    path "apps/*" { capabilities = ["read", "list"] }
    path "apps/secret" { capabilities = ["deny"] }
  }
}
namespace "web-prod" { policy = "deny" }
node { policy = "read" }
agent { policy = "write" }
operator { policy = "read" }
host_volume "ssd-*" { policy = "write" }
plugin { policy = "list" }
`;

function parseError(text: string) {
  try {
    parsePolicyRules(text);
  } catch (e) {
    if (isDroverError(e)) return e;
    throw e;
  }
  throw new Error('expected the policy to be refused');
}

describe('ACL policies', () => {
  it('reads every rule kind of Nomad policy language', () => {
    const r = parsePolicyRules(full);
    expect(r.namespaces.map((n) => n.name)).toEqual(['default', 'web-*', 'web-prod']);
    expect(r.namespaces[1]!.variables).toEqual([
      { path: 'apps/*', capabilities: ['read', 'list'] },
      { path: 'apps/secret', capabilities: ['deny'] },
    ]);
    expect([r.node, r.agent, r.operator, r.plugin]).toEqual(['read', 'write', 'read', 'list']);
    expect(r.hostVolumes).toEqual([{ name: 'ssd-*', policy: 'write', capabilities: [] }]);
  });

  it('refuses a malformed policy naming the line of each problem', () => {
    const e = parseError('namespace "default" {\n  policy = "reed"\n}\nnode {\n  capabilities = ["x"]\n}\n');
    expect(e.code).toBe('ACLPolicyInvalid');
    expect(e.problems.map((p) => p.line)).toEqual([1, 5]);
    expect(e.message).toContain('invalid policy "reed"');
    expect(e.message).toContain('line 5');
  });

  it('refuses HCL syntax errors, unknown blocks, bad capabilities and a policy that grants nothing', () => {
    expect(parseError('namespace "x" {').code).toBe('ACLPolicyInvalid');
    expect(parseError('bogus { policy = "read" }').message).toContain('unknown block "bogus"');
    expect(parseError('namespace "x" { capabilities = ["fly"] }').message).toContain('invalid capability "fly"');
    expect(parseError('').message).toContain('grants nothing');
    expect(parseError('namespace "a/b" { policy = "read" }').message).toContain('namespace block needs one label');
  });
});

describe('the compiled ACL', () => {
  const acl = ACL.compile([parsePolicyRules(full)]);

  it('expands a coarse namespace policy into its capabilities and adds the listed ones', () => {
    expect(acl.allowNamespaceOperation('default', 'read-job')).toBe(true);
    expect(acl.allowNamespaceOperation('default', 'submit-job')).toBe(true);
    expect(acl.allowNamespaceOperation('default', 'read-logs')).toBe(false);
    expect(acl.allowNamespaceOperation('other', 'list-jobs')).toBe(false);
  });

  it('matches namespace globs and lets an exact deny win over the glob', () => {
    expect(acl.allowNamespaceOperation('web-dev', 'read-job')).toBe(true);
    expect(acl.allowNamespaceOperation('web-dev', 'submit-job')).toBe(false);
    expect(acl.allowNamespaceOperation('web-prod', 'read-job')).toBe(false);
    expect(acl.allowNamespace('web-prod')).toBe(false);
  });

  it('checks variables by the closest path rule, deny winning', () => {
    expect(acl.allowVariableOperation('web-dev', 'apps/config', 'read')).toBe(true);
    expect(acl.allowVariableOperation('web-dev', 'apps/config', 'write')).toBe(false);
    expect(acl.allowVariableOperation('web-dev', 'apps/secret', 'read')).toBe(false);
    // A namespace policy with no variables block grants read and list on every path, as Nomad's.
    expect(acl.allowVariableOperation('default', 'anything', 'read')).toBe(true);
    expect(acl.allowVariableOperation('default', 'anything', 'write')).toBe(false);
  });

  it('merges policies: grants add up and a deny from any policy wins', () => {
    const two = ACL.compile([
      parsePolicyRules('namespace "a" { policy = "read" }'),
      parsePolicyRules('namespace "a" { policy = "deny" }\nnode { policy = "write" }'),
    ]);
    expect(two.allowNamespaceOperation('a', 'read-job')).toBe(false);
    expect(two.allowNode('read')).toBe(true);
    expect(two.allowNode('write')).toBe(true);
    expect(acl.allowNode('write')).toBe(false);
  });

  it('gives a workload identity read on its own job variables and its namespace services only', () => {
    const wi = ACL.workload({ namespace: 'default', jobID: 'web', group: 'g', task: 't', allocID: 'a' });
    expect(wi.allowVariableOperation('default', 'nomad/jobs/web', 'read')).toBe(true);
    expect(wi.allowVariableOperation('default', 'nomad/jobs/web/g/t', 'read')).toBe(true);
    expect(wi.allowVariableOperation('default', 'nomad/jobs/web', 'write')).toBe(false);
    expect(wi.allowVariableOperation('default', 'nomad/jobs/db', 'read')).toBe(false);
    expect(wi.allowVariableOperation('other', 'nomad/jobs/web', 'read')).toBe(false);
    expect(wi.allowServiceRead('default')).toBe(true);
    expect(wi.allowServiceRead('other')).toBe(false);
    expect(wi.allowNamespaceOperation('default', 'read-job')).toBe(false);
  });
});
