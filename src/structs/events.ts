/** Nomad's event stream (`GET /v1/event/stream`) on the wire: the broker sends these, the API client reads them. */

export type EventTopic =
  'Deployment' | 'Evaluation' | 'Allocation' | 'Job' | 'Node' | 'NodePool' | 'Service' | 'Variable';

/** Nomad's structs.Event. */
export interface StreamEvent {
  Topic: EventTopic;
  Type: string;
  Key: string;
  Namespace: string;
  FilterKeys: string[] | null;
  Index: number;
  Payload: Record<string, unknown>;
}

/** Nomad's structs.Events: one write's events. */
export interface EventBatch {
  Index: number;
  Events: StreamEvent[];
}

/** Every topic, in the order Nomad lists them. */
export const ALL_TOPICS: readonly EventTopic[] = [
  'Deployment',
  'Evaluation',
  'Allocation',
  'Job',
  'Node',
  'NodePool',
  'Service',
  'Variable',
];
