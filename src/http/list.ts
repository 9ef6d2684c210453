/**
 * Nomad's list parameters, applied to a list endpoint's answer in the order Nomad applies them: `filter`
 * (go-bexpr), then `reverse`, then pagination (`per_page`, `next_token`). The token is the key (usually
 * the ID) of the first element of the next page, answered in `X-Nomad-NextToken`; a token no element has
 * starts the page at the first element past it, so a client resumes even after that element was deleted.
 */
import { badRequest } from '../errors/index.js';
import { compileFilter } from './bexpr.js';
import { boolParam } from './query.js';
import { JsonReply } from './reply.js';

export interface ListParams {
  filter?: (obj: unknown) => boolean;
  reverse: boolean;
  perPage?: number;
  nextToken?: string;
}

/** Largest `per_page` accepted (Nomad takes any int32; a larger page is the whole list anyway). */
const MAX_PER_PAGE = 2 ** 31 - 1;

/** Reads (and validates) the list parameters of a request; throws BadRequest naming the parameter. */
export function listParams(q: URLSearchParams): ListParams {
  const out: ListParams = { reverse: boolParam(q, 'reverse') };
  const filter = q.get('filter');
  if (filter !== null && filter.trim() !== '') out.filter = compileFilter(filter).test;
  const perPage = q.get('per_page');
  if (perPage !== null && perPage !== '') {
    if (!/^\d{1,10}$/.test(perPage) || Number(perPage) > MAX_PER_PAGE)
      throw badRequest(`invalid per_page "${perPage}": expected a non-negative integer`);
    if (Number(perPage) > 0) out.perPage = Number(perPage);
  }
  const token = q.get('next_token');
  if (token !== null && token !== '') out.nextToken = token;
  return out;
}

/** True when a request asks for nothing `applyList` does, so a list can be answered as it is (cached bytes). */
export function isPlainList(p: ListParams): boolean {
  return p.filter === undefined && !p.reverse && p.perPage === undefined && p.nextToken === undefined;
}

/**
 * Filters, orders and pages `items` (which the state answers sorted ascending by `key`). Returns the page and
 * the token of the next one, if any.
 */
export function applyList<T>(items: readonly T[], p: ListParams, key: (t: T) => string): { page: T[]; next?: string } {
  let list = p.filter ? items.filter((t) => p.filter!(t)) : [...items];
  if (p.reverse) list.reverse();
  if (p.nextToken !== undefined) {
    const tok = p.nextToken;
    let start = list.findIndex((t) => key(t) === tok);
    if (start < 0) start = list.findIndex((t) => (p.reverse ? key(t) < tok : key(t) > tok));
    list = start < 0 ? [] : list.slice(start);
  }
  if (p.perPage === undefined || list.length <= p.perPage) return { page: list };
  return { page: list.slice(0, p.perPage), next: key(list[p.perPage]!) };
}

/** A list answer with Nomad's list parameters applied and `X-Nomad-NextToken` set when there is more. */
export function listReply<T>(
  p: ListParams,
  res: { value: readonly T[]; index: number },
  key: (t: T) => string = byID,
): JsonReply {
  if (isPlainList(p)) return new JsonReply(res.value, res.index);
  const { page, next } = applyList(res.value, p, key);
  return new JsonReply(page, res.index, 200, next !== undefined ? { 'X-Nomad-NextToken': next } : undefined);
}

function byID(t: unknown): string {
  return String((t as { ID?: unknown }).ID ?? '');
}
