/**
 * A shared machine: other people's tests may run during a measurement. Before
 * measuring we wait (bounded) for the machine to be quiet; a measurement
 * during which other processes used much CPU is repeated once if the machine
 * quietens, and flagged as disturbed otherwise.
 */
import { DISTURBED_OTHER_CPU, type BenchContext } from './context.js';
import { machineBusy, type CpuUse } from './proc.js';

/** Machine CPU (% of one core) below which the machine counts as quiet before a measurement. */
const QUIET_CPU = 25;
/** Total time one run may spend waiting for a quiet machine, so it stays bounded. */
let waitBudgetMs = 150_000;

/**
 * Waits up to 60 s until the machine is quiet; true if it is. --quick does not
 * wait (its rows get flagged instead). Call it while nothing of the run is busy.
 */
export async function waitQuiet(ctx: BenchContext): Promise<boolean> {
  if (ctx.quick || waitBudgetMs <= 0) return false;
  const started = performance.now();
  const deadline = started + Math.min(60_000, waitBudgetMs);
  let busy = await machineBusy(1000);
  if (busy <= QUIET_CPU) return true;
  ctx.log(`  machine busy (${busy.toFixed(0)} % of a core outside the run); waiting for it to quieten`);
  while (busy > QUIET_CPU && performance.now() < deadline) busy = await machineBusy(2000);
  waitBudgetMs -= performance.now() - started;
  ctx.log(`  ${busy <= QUIET_CPU ? 'quiet' : 'still busy'} (${busy.toFixed(0)} %); measuring${waitBudgetMs <= 0 ? ' (waiting budget used up: no more waits this run)' : ''}`);
  return busy <= QUIET_CPU;
}

/** Runs `measure` again once when the first attempt looks disturbed by other work on the machine; keeps the less disturbed one. */
export async function measureUndisturbed<T extends { cpu: CpuUse }>(ctx: BenchContext, what: string, measure: () => Promise<T>): Promise<{ result: T; notes: string[]; disturbed: boolean }> {
  await waitQuiet(ctx);
  const first = await measure();
  if (first.cpu.other <= DISTURBED_OTHER_CPU) return { result: first, notes: [], disturbed: false };
  // --quick is a smoke run: flag, do not repeat. Nor when the machine does not quieten (the run stays bounded).
  if (ctx.quick) return { result: first, notes: [], disturbed: true };
  ctx.log(`  ${what}: other processes used ${first.cpu.other} % CPU meanwhile`);
  if (!(await waitQuiet(ctx))) return { result: first, notes: ['not re-run: the machine did not quieten'], disturbed: true };
  ctx.log(`  ${what}: measuring again`);
  const second = await measure();
  const kept = second.cpu.other <= first.cpu.other ? second : first;
  const notes = [`measured twice (other CPU ${first.cpu.other} %, then ${second.cpu.other} %); kept the ${kept === second ? 'second' : 'first'}`];
  return { result: kept, notes, disturbed: kept.cpu.other > DISTURBED_OTHER_CPU };
}
