/**
 * Nomad Variables and the service catalog's list shape, as the HTTP API answers them (`/v1/var/:path`,
 * `/v1/vars`, `/v1/services`). Times are unix nanoseconds.
 */

/** `GET /v1/var/:path`: Nomad's VariableDecrypted. */
export interface Variable {
  Namespace: string;
  Path: string;
  Items: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
  /** Set while the variable is used as a lock (Nomad's `-lock`); absent otherwise. */
  Lock?: VariableLock;
}

/** Nomad's VariableLock: TTL and LockDelay are Go duration strings. */
export interface VariableLock {
  ID: string;
  TTL: string;
  LockDelay: string;
}

/** `GET /v1/vars` element: a variable without its items. */
export type VariableMetadata = Omit<Variable, 'Items'>;

/** `GET /v1/services` element: the services of one namespace, each with the union of its instances' tags. */
export interface ServiceRegistrationListStub {
  Namespace: string;
  Services: Array<{ ServiceName: string; Tags: string[] }>;
}
