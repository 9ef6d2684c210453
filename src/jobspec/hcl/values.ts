export type Value = { kind: 'placeholder' };
