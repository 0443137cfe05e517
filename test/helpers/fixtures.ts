// The message-body fixtures of test/fixtures (copied verbatim from the project's shared fixtures), with the placeholders of bad-bodies.txt expanded.
import { readFileSync } from 'node:fs';

const FIXTURES = new URL('../fixtures/', import.meta.url);

/** Prefix and suffix of the `<BIG:N>` body; the pad between them makes it exactly N bytes. */
const BIG_HEAD = '{"msg_type":"big","pad":"';
const BIG_TAIL = '"}';

/** The lines of a fixture file (UTF-8), without the final empty line. */
function lines(name: string): string[] {
  const text = readFileSync(new URL(name, FIXTURES), 'utf8');
  const out = text.split('\n');
  if (out.at(-1) === '') out.pop();
  return out;
}

/** One body per line of workflow-messages.jsonl: workflow messages (`msg_type` present). */
export function readWorkflowFixtures(): string[] {
  return lines('workflow-messages.jsonl');
}

/** One body per line of testbed-messages.jsonl: the shapes the testbed's agents send (nulls, nested objects, a panda_id beyond 2^53). */
export function readTestbedFixtures(): string[] {
  return lines('testbed-messages.jsonl');
}

/** One body per line of heartbeats.jsonl: agent heartbeats (`agent_name` + `status`, no `msg_type`). */
export function readHeartbeatFixtures(): string[] {
  return lines('heartbeats.jsonl');
}

/** `{"msg_type":"big","pad":"xxxx…"}` of exactly `size` bytes (at least 27). */
export function bigBody(size: number): Uint8Array {
  const pad = size - BIG_HEAD.length - BIG_TAIL.length;
  if (pad < 0) throw new RangeError(`a <BIG:N> body needs N >= ${BIG_HEAD.length + BIG_TAIL.length}`);
  return Buffer.from(BIG_HEAD + 'x'.repeat(pad) + BIG_TAIL, 'latin1');
}

/** A workflow message whose JSON string holds the invalid UTF-8 sequence 0xC3 0x28. */
export function badUtf8Body(): Uint8Array {
  return Buffer.concat([Buffer.from('{"msg_type":"stf_gen","note":"', 'latin1'), Buffer.from([0xc3, 0x28]), Buffer.from('"}', 'latin1')]);
}

/**
 * The bodies of bad-bodies.txt, each labelled by its line; placeholders expanded:
 * `<EMPTY>` = empty body, `<BIG:N>` = see bigBody, `<BADUTF8>` = see badUtf8Body.
 */
export function readBadBodies(): { label: string; body: Uint8Array }[] {
  return lines('bad-bodies.txt').map((label) => {
    if (label === '<EMPTY>') return { label, body: new Uint8Array(0) };
    if (label === '<BADUTF8>') return { label, body: badUtf8Body() };
    const big = /^<BIG:(\d+)>$/.exec(label);
    if (big) return { label, body: bigBody(Number(big[1])) };
    return { label, body: Buffer.from(label, 'utf8') };
  });
}
