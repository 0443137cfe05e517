/**
 * Runs a bench script (`node --import tsx <script> …args`) as a process of its
 * own and collects the JSON lines it prints on stdout, with the CPU it used
 * (sampled from /proc while it runs); fails with its output if it exits non-zero.
 */
import { spawn } from 'node:child_process';
import { cpuTicks } from './proc.js';

export async function runJsonLines<T>(script: string, args: string[], env: Record<string, string> = {}): Promise<{ lines: T[]; cpuSeconds: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let ticks = 0;
  // Sampled while it runs: /proc forgets a process once it has exited.
  const sampler = setInterval(() => (ticks = cpuTicks(child.pid!) ?? ticks), 100);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearInterval(sampler);
  if (code !== 0) throw new Error(`${script} exited with code ${code}: ${out}`);
  const lines = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
  return { lines, cpuSeconds: ticks / 100 };
}
