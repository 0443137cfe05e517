/** commander option parsers shared by `send` and `receive`: they throw InvalidArgumentError, which commander reports as a usage error. */
import { InvalidArgumentError } from 'commander';

/** A whole number ≥ `min`. */
export function intAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value.trim());
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number ≥ ${min}`);
    return n;
  };
}

/** A number of seconds ≥ 0 (fractions allowed), returned in ms. */
export function secondsAsMs(value: string): number {
  const n = Number(value.trim());
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !Number.isFinite(n) || n > 1e9) throw new InvalidArgumentError('must be a number of seconds ≥ 0');
  return Math.round(n * 1000);
}

/** A positive rate per second (fractions allowed). */
export function positiveRate(value: string): number {
  const n = Number(value.trim());
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0) || n > 1e6) throw new InvalidArgumentError('must be a number > 0 (per second)');
  return n;
}

/** Accumulates a comma-separated, repeatable list option: `--x a,b --x c` → ['a','b','c'] (trimmed, empties dropped). */
export function commaList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  ];
}
