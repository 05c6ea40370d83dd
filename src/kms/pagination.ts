/**
 * Pages and markers of the list operations (ListKeys, ListAliases,
 * DescribeCustomKeyStores).
 *
 * A marker is opaque to callers. It is the base64url encoding of
 * `<list name>:<sort key of the last returned item>`, and the next page
 * starts after that sort key. Naming the list lets a marker from ListKeys be
 * rejected by ListAliases instead of silently skipping aliases.
 */
import { InvalidMarkerException } from './errors.js';

/** One page of a list operation, in the shape of the KMS list responses. */
export interface Page<T> {
  readonly items: T[];
  /** Marker for the next page; present only when `truncated` is true. */
  readonly nextMarker?: string;
  readonly truncated: boolean;
}

export interface PageRequest {
  /** Maximum number of items, at least 1. */
  readonly limit: number;
  /** NextMarker of the previous page, or undefined for the first page. */
  readonly marker?: string | undefined;
}

export type ListName = 'keys' | 'aliases' | 'custom-key-stores';

const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+$/;

export function encodeMarker(list: ListName, lastSortKey: string): string {
  return Buffer.from(`${list}:${lastSortKey}`, 'utf8').toString('base64url');
}

/**
 * Returns the sort key after which the page starts: '' without a marker, so
 * the first page starts before every non-empty key. Raises
 * InvalidMarkerException for a marker that this list did not produce.
 */
export function decodeMarker(list: ListName, marker: string | undefined): string {
  if (marker === undefined) {
    return '';
  }

  const prefix = `${list}:`;
  const decoded = BASE64URL_PATTERN.test(marker) ? Buffer.from(marker, 'base64url').toString('utf8') : '';
  if (!decoded.startsWith(prefix) || decoded.length === prefix.length) {
    throw new InvalidMarkerException(
      'The Marker is not valid for this list. Pass the NextMarker value from the previous response ' +
        'of the same operation unchanged, or omit Marker to start from the first page.',
    );
  }
  return decoded.slice(prefix.length);
}

/**
 * Builds a page from up to `limit + 1` rows sorted by `sortKey`. The extra
 * row only signals that more items exist.
 */
export function toPage<T>(list: ListName, rows: T[], limit: number, sortKey: (item: T) => string): Page<T> {
  if (rows.length <= limit) {
    return { items: rows, truncated: false };
  }
  const items = rows.slice(0, limit);
  const last = items[items.length - 1] as T;
  return { items, nextMarker: encodeMarker(list, sortKey(last)), truncated: true };
}
