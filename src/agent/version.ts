/** Drover's version, reported as `nomad.version`-like attributes and by `drover version`. */
export const DROVER_VERSION = '0.1.0';
