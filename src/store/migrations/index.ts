/**
 * Versioned schema changes, applied in name order by Kysely's Migrator.
 * Add a file `NNNN-what.ts` exporting `up(db, dialect)` and list it here; never edit one that has shipped.
 */
import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../store.js';
import * as initial from './0001-initial.js';
import * as relayState from './0002-relay-state.js';
import * as tokenExpiry from './0003-token-expiry.js';
import * as housekeeping from './0004-housekeeping.js';
import * as sessionToken from './0005-session-token.js';
import * as authorisation from './0006-authorisation.js';

type Step = { up(db: Kysely<unknown>, dialect: Dialect): Promise<void> };

const STEPS: Record<string, Step> = {
  '0001-initial': initial,
  '0002-relay-state': relayState,
  '0003-token-expiry': tokenExpiry,
  '0004-housekeeping': housekeeping,
  '0005-session-token': sessionToken,
  '0006-authorisation': authorisation,
};

/** The migrations for one dialect, keyed by version name. */
export function migrationsFor(dialect: Dialect): Record<string, Migration> {
  const out: Record<string, Migration> = {};
  for (const [name, step] of Object.entries(STEPS)) out[name] = { up: (db) => step.up(db, dialect) };
  return out;
}
