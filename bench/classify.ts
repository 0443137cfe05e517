// Micro-benchmark of the ingestion hot path without I/O: classify + enrich (the content relayed and stored)
// for every body of the message fixtures. `node --import tsx bench/classify.ts` prints CPU ns per message
// (CPU time, not wall time: steadier on a shared machine).
import { readFileSync } from 'node:fs';
import { classifyBody, enrichHeartbeat, enrichWorkflow } from '../src/model/message.js';

const FIXTURES = new URL('../test/fixtures/', import.meta.url);
const lines = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8').split('\n').filter((l) => l !== '');
const SETS: Record<string, Uint8Array[]> = {
  'workflow-messages + heartbeats': [...lines('workflow-messages.jsonl'), ...lines('heartbeats.jsonl')].map((l) => Buffer.from(l)),
  'testbed-messages': lines('testbed-messages.jsonl').map((l) => Buffer.from(l)),
};
const receipt = { queueName: '/topic/epictopic', receivedAt: Date.now() };

let sink = 0;
function pass(bodies: Uint8Array[]): void {
  for (const body of bodies) {
    const c = classifyBody(body, 1_048_576);
    if (c.kind === 'workflow') sink += enrichWorkflow(c, receipt).length;
    else if (c.kind === 'heartbeat') sink += enrichHeartbeat(c, receipt).length;
    else throw new Error(`fixture rejected: ${c.detail}`);
  }
}

for (const [name, bodies] of Object.entries(SETS)) {
  for (let i = 0; i < 20_000; i++) pass(bodies); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const n = 20_000;
    const t = process.cpuUsage();
    for (let i = 0; i < n; i++) pass(bodies);
    const d = process.cpuUsage(t);
    runs.push(((d.user + d.system) * 1000) / (n * bodies.length));
  }
  runs.sort((a, b) => a - b);
  console.log(`${name}: ${runs[0]!.toFixed(0)} CPU ns/message (best of 5), median ${runs[2]!.toFixed(0)} (${bodies.length} bodies)`);
}
if (sink === 0) console.log('');
