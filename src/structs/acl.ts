/**
 * The ACL objects, with Nomad's JSON field names: tokens, policies, roles, namespaces and one-time tokens are
 * stored in the state store as these shapes and answered by the HTTP API as they are (SecretIDs only where
 * Nomad shows them).
 */

/** Nomad's ACLToken. Times are RFC 3339 strings as Go's time.Time; ExpirationTTL is nanoseconds. */
export interface ACLToken {
  AccessorID: string;
  SecretID: string;
  Name: string;
  /** `management` tokens may do everything; `client` tokens what their policies and roles grant. */
  Type: 'client' | 'management';
  Policies: string[] | null;
  Roles: ACLTokenRoleLink[] | null;
  Global: boolean;
  CreateTime: string;
  ExpirationTime: string | null;
  ExpirationTTL: number;
  Hash: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface ACLTokenRoleLink {
  ID: string;
  Name: string;
}

export type ACLTokenListStub = Omit<ACLToken, 'SecretID'>;

/** Nomad's ACLPolicy: `Rules` is the HCL text, kept as written. */
export interface ACLPolicy {
  Name: string;
  Description: string;
  Rules: string;
  JobACL: { Namespace: string; JobID: string; Group?: string; Task?: string } | null;
  CreateIndex: number;
  ModifyIndex: number;
}

export type ACLPolicyListStub = Omit<ACLPolicy, 'Rules' | 'JobACL'>;

/** Nomad's ACLRole: a named set of policies that tokens link to. */
export interface ACLRole {
  ID: string;
  Name: string;
  Description: string;
  Policies: { Name: string }[];
  CreateIndex: number;
  ModifyIndex: number;
}

/** Nomad's Namespace. `default` always exists (answered even when never written). */
export interface Namespace {
  Name: string;
  Description: string;
  Quota: string;
  Meta: Record<string, string> | null;
  Capabilities: { EnabledTaskDrivers: string[] | null; DisabledTaskDrivers: string[] | null } | null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** Nomad's OneTimeToken: exchanged once, before ExpiresAt, for the token it points at. */
export interface OneTimeToken {
  OneTimeSecretID: string;
  AccessorID: string;
  ExpiresAt: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** One row per singleton the ACL system keeps (the bootstrap index). */
export interface ACLMetaRow {
  Key: string;
  Value: number;
}

/** A workload identity signing key; the private key never leaves the servers. */
export interface SigningKey {
  KeyID: string;
  Algorithm: 'ES256';
  /** PKCS#8 PEM; empty when the servers share it wrapped with their key-encryption key (`WrappedPrivateKey`). */
  PrivateKey: string;
  /** The PEM wrapped with the servers' key-encryption key (servers sharing etcd; see lib/kek.ts). */
  WrappedPrivateKey?: string;
  /** The public key as a JWK (what /.well-known/jwks.json answers). */
  PublicJWK: Record<string, string>;
  CreateTime: number;
}

export const DEFAULT_NAMESPACE = 'default';

/** The accessor ID Nomad gives the anonymous token. */
export const ANONYMOUS_ACCESSOR = 'anonymous';
/** The policy that, when it exists, grants what requests without a token may do. */
export const ANONYMOUS_POLICY = 'anonymous';
