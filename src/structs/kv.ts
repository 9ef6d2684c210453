/**
 * One entry of the Consul-compatible key/value store (`/v1/kv/<key>`), in Consul's JSON shape. `Value` is the
 * base64 of the stored bytes, or null for an empty value, exactly as Consul answers it; rows are stored in the
 * same shape so the state backends need no conversion.
 */
export interface KVEntry {
  /** Drover has no sessions: always 0. */
  LockIndex: number;
  Key: string;
  /** An opaque unsigned 64-bit number the client attaches (`?flags=`), kept as its decimal digits' value. */
  Flags: number;
  /** base64 of the value's bytes; null when the value is empty. */
  Value: string | null;
  CreateIndex: number;
  ModifyIndex: number;
}
