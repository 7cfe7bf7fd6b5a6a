/**
 * Exponential backoff with jitter for re-dialling a peer. Randomness comes from Math.random by
 * default: the transport is not part of the deterministic core.
 */
import type { ReconnectOptions } from './types.js';

export const DEFAULT_RECONNECT: ReconnectOptions = { minMs: 100, maxMs: 5000 };

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: ReconnectOptions,
    private readonly random: () => number = Math.random,
  ) {
    if (!(opts.minMs > 0) || !(opts.maxMs >= opts.minMs)) {
      throw new RangeError(`reconnect needs 0 < minMs <= maxMs, got minMs=${opts.minMs} maxMs=${opts.maxMs}`);
    }
  }

  /** The next delay: min * 2^attempt capped at max, scaled by a random factor in [0.5, 1). */
  next(): number {
    const base = Math.min(this.opts.maxMs, this.opts.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(1, Math.round(base * (0.5 + this.random() / 2)));
  }

  reset(): void {
    this.attempt = 0;
  }
}
