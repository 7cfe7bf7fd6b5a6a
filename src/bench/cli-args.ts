/** Option parsers shared by the benchmark commands (commander). `1_000_000` and `1,000,000` are accepted. */
import { InvalidArgumentError } from 'commander';

function integer(v: string): number {
  return Number(v.trim().replace(/[_,]/g, ''));
}

export function positiveInt(v: string): number {
  const n = integer(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function nonNegativeInt(v: string): number {
  const n = integer(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}
