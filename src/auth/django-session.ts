/**
 * Reads Django's `django_session.session_data` without Django's SECRET_KEY.
 * The relay cannot check the signature, and need not: the row itself, found
 * by its secret session key in the monitor's database, is the proof. Two
 * formats exist:
 *   - Django ≥ 3.1 (signing.dumps): `base64url(payload):timestamp:signature`,
 *     where a payload starting with '.' is zlib-compressed; JSON inside.
 *   - older Django: base64 of `hash:json`.
 * Anything else (pickle sessions, truncated or foreign data) is no session.
 */
import { inflateSync } from 'node:zlib';

/** Largest session_data, and largest decompressed payload, we read (Django's login session is ~200 bytes). */
export const MAX_SESSION_BYTES = 64 * 1024;

const SIGNED = /^(\.?)([A-Za-z0-9_-]+):([0-9A-Za-z]+):([A-Za-z0-9_-]+)$/;
const LEGACY = /^[A-Za-z0-9+/]+={0,2}$/;

/** The session dictionary in `sessionData`, or null when it is not a Django session we can read. */
export function decodeDjangoSession(sessionData: string): Record<string, unknown> | null {
  if (sessionData.length > MAX_SESSION_BYTES) return null;
  const data = sessionData.trim();
  const signed = SIGNED.exec(data);
  if (signed) {
    const raw = Buffer.from(signed[2]!, 'base64url');
    if (signed[1] !== '.') return parseObject(raw);
    try {
      // The cap stops a small row from inflating into a large allocation.
      return parseObject(inflateSync(raw, { maxOutputLength: MAX_SESSION_BYTES }));
    } catch {
      return null;
    }
  }
  if (LEGACY.test(data) && data.length % 4 === 0) {
    const text = Buffer.from(data, 'base64');
    const colon = text.indexOf(0x3a);
    // The part before the colon is a hex HMAC; we only check its shape.
    if (colon < 1 || !/^[0-9a-f]+$/.test(text.subarray(0, colon).toString('latin1'))) return null;
    return parseObject(text.subarray(colon + 1));
  }
  return null;
}

/** The logged-in user's primary key (`_auth_user_id`) in a decoded session, as a decimal string, or null. */
export function sessionUserId(session: Record<string, unknown> | null): string | null {
  const id = session?._auth_user_id;
  if (typeof id === 'string' && /^[0-9]{1,19}$/.test(id)) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return String(id);
  return null;
}

function parseObject(bytes: Buffer): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}
