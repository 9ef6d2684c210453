/** ACLs: policies, the compiled ACL, tokens/roles/namespaces on the server, workload identity and the audit log. */
export { ACL, globMatch, type WorkloadClaims } from './acl.js';
export {
  parsePolicyRules,
  expandNamespacePolicy,
  NAMESPACE_CAPABILITIES,
  VARIABLE_CAPABILITIES,
  type PolicyRules,
  type NamespaceCapability,
  type VariableCapability,
} from './policy.js';
export {
  AclService,
  BOOTSTRAP_RESET_FILE,
  tokenStub,
  type Identity,
  type TokenRequest,
  type AclServiceOptions,
} from './service.js';
export { verifyJWT, signJWT, newSigningKey, looksLikeJWT, type IdentityClaims } from './jwt.js';
export { AuditLog, type AuditEvent, type AuditSinkConfig } from './audit.js';
export { RemoteAclResolver, type RemoteAclOptions } from './remote.js';
