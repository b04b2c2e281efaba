import { createHash } from 'node:crypto';
import { recordKeys } from '../data/keys.js';
import type { RecordScope } from '../ports/records-store.js';

/**
 * A position in one records partition's change feed, as the API hands it out:
 * `fc1_<partition tag>_<position>`. The tag (a hash of the partition's key: org, mode and
 * account, none of them readable from it) ties the cursor to its feed, so a cursor of another
 * org or connection is refused instead of read as a position in this one. Not a secret: a
 * caller who forges a position in its own feed only reads its own records from there.
 */
const CURSOR = /^fc1_([A-Za-z0-9_-]{16})_(0|[1-9][0-9]{0,15})$/;

const tagOf = (scope: RecordScope) =>
  createHash('sha256').update(recordKeys.partition(scope)).digest('base64url').slice(0, 16);

export function encodeCursor(scope: RecordScope, position: number): string {
  return `fc1_${tagOf(scope)}_${position}`;
}

export type CursorProblem = 'malformed' | 'foreign';

/** The position a cursor names in this partition's feed, or why it names none. */
export function decodeCursor(
  scope: RecordScope,
  cursor: string,
): { position: number } | { problem: CursorProblem } {
  const match = CURSOR.exec(cursor);
  if (!match) return { problem: 'malformed' };
  const position = Number(match[2]);
  if (!Number.isSafeInteger(position)) return { problem: 'malformed' };
  if (match[1] !== tagOf(scope)) return { problem: 'foreign' };
  return { position };
}
