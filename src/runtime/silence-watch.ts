/**
 * SilenceWatches: the runtime side of the `watchSilence` effect. A statechart says which peer to
 * watch and for how long; this notes the arrival time of each of that peer's messages (one clock
 * read, no timer touched) and keeps one timer per watch that fires at the earliest moment the limit
 * could be reached, re-arming itself for the remainder when a message came in between. The peer is
 * reported silent exactly when nothing arrived from it for the limit, and a busy channel costs no
 * timer work per message (a statechart re-arming a delayed event per message cost about as much as
 * the message's own handling).
 *
 * A timer that fires late means this process itself was stalled (a long GC, a long job): the peer's
 * messages may be sitting unread in the socket. Such a check gives the I/O one turn (a 1 ms timer
 * comes after the poll phase) before it reports the peer silent, so a server's own pause does not
 * make it give up on a peer that kept talking.
 */
import type { ServerId } from '../protocol/messages.js';
import type { Clock } from './ports.js';

interface Watch {
  owner: string;
  ms: number;
  lastHeard: number;
  timer: unknown;
  /** when the timer is due */
  due: number;
}

/** A timer this much later than due (or a tenth of the limit, if more) means this process was stalled. */
const LATE_MS = 50;

export class SilenceWatches {
  private readonly watches = new Map<ServerId, Watch>();

  constructor(
    private readonly clock: Clock,
    private readonly onSilent: (sid: ServerId) => void,
  ) {}

  /** Watches `sid` for `ms` of silence from now, replacing any watch of it. */
  watch(sid: ServerId, ms: number, owner: string): void {
    this.clear(sid);
    const now = this.clock.now();
    const w: Watch = { owner, ms, lastHeard: now, timer: null, due: 0 };
    this.watches.set(sid, w);
    this.arm(sid, w, ms, now);
  }

  /** Stops watching `sid` if `owner` still holds the watch (a replaced watch's owner must not end the new one). */
  unwatch(sid: ServerId, owner: string): void {
    if (this.watches.get(sid)?.owner === owner) this.clear(sid);
  }

  /** A message from `sid` arrived: the hot path, so only a map lookup and a clock read. */
  heard(sid: ServerId): void {
    const w = this.watches.get(sid);
    if (w) w.lastHeard = this.clock.now();
  }

  /** Stops every watch (the role ended, or the server stops). */
  clearAll(): void {
    for (const sid of [...this.watches.keys()]) this.clear(sid);
  }

  /** Peers being watched (tests, status). */
  watched(): ServerId[] {
    return [...this.watches.keys()];
  }

  private clear(sid: ServerId): void {
    const w = this.watches.get(sid);
    if (!w) return;
    this.clock.clearTimeout(w.timer);
    this.watches.delete(sid);
  }

  private arm(sid: ServerId, w: Watch, ms: number, now: number): void {
    w.due = now + ms;
    w.timer = this.clock.setTimeout(() => this.check(sid, w), ms);
  }

  private check(sid: ServerId, w: Watch): void {
    if (this.watches.get(sid) !== w) return;
    const now = this.clock.now();
    const quiet = now - w.lastHeard;
    if (quiet >= w.ms) {
      if (now - w.due > Math.max(LATE_MS, w.ms / 10)) {
        // Stalled ourselves: read what arrived meanwhile first (the re-check is due at once).
        this.arm(sid, w, 1, now);
        return;
      }
      this.watches.delete(sid);
      this.onSilent(sid);
      return;
    }
    // Heard from it meanwhile: the limit is reached at lastHeard + ms at the earliest.
    this.arm(sid, w, Math.max(1, Math.ceil(w.ms - quiet)), now);
  }
}
