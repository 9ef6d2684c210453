/** English month and weekday names and two-digit padding, for the date formatters of HCL and templates. */

export const MONTHS: readonly string[] = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** Indexed as `Date.getUTCDay()`: Sunday first. */
export const DAYS: readonly string[] = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** `n` with at least two digits ("07"). */
export const pad2 = (n: number): string => String(n).padStart(2, '0');
