// Liveness of one link to one peer, from our own pings and their pongs, and the choice
// of link for a message (pure: the caller passes the clock in).
//
// Timings follow knet's reasoning: ping every token/8, declare the link down after
// token/2 without a pong, so failing over to the other link ends well inside one token
// timeout and a single link failure never changes the membership.

export interface LinkTimings {
  pingIntervalMs: number;
  /** No pong for this long: the link is down. */
  downAfterMs: number;
  /** No pong for this long on an up link: also send on the next link until it answers or goes down. */
  suspectAfterMs: number;
  /** Pongs (to distinct pings, each within downAfterMs of the previous) needed to bring a link up; knet_pong_count. */
  upPongCount: number;
}

export function linkTimingsFor(tokenMs: number): LinkTimings {
  const pingIntervalMs = Math.max(5, Math.floor(tokenMs / 8));
  const downAfterMs = Math.max(20, Math.floor(tokenMs / 2));
  // Two pings without an answer: more than jitter, well before the link is declared down.
  return { pingIntervalMs, downAfterMs, suspectAfterMs: Math.min(downAfterMs, 2 * pingIntervalMs), upPongCount: 2 };
}

export type LinkTransition = { to: 'up'; after: number } | { to: 'down'; silentMs: number };

/** Smoothing of the round-trip time (like TCP's SRTT, alpha 1/8). */
const RTT_WEIGHT_NEW = 1 / 8;
/** A pong claiming a round trip longer than this is stale; ignore it. */
const RTT_MAX_MS = 60_000;

export class LinkLiveness {
  up = false;
  lastPongAt: number | null = null;
  rttMs: number | null = null;
  /** When the link last changed state (or was created). */
  since: number;
  private pongsWhileDown = 0;
  private lastPongSeq = -1;

  constructor(
    private readonly timings: LinkTimings,
    now: number,
  ) {
    this.since = now;
  }

  /** A pong for ping `seq` sent at `sentAt` arrived at `now`. */
  pong(now: number, seq: number, sentAt: number): LinkTransition | null {
    const rtt = now - sentAt;
    if (!(rtt >= 0 && rtt <= RTT_MAX_MS)) return null;
    this.rttMs = this.rttMs === null ? rtt : this.rttMs + (rtt - this.rttMs) * RTT_WEIGHT_NEW;
    const fresh = this.lastPongAt !== null && now - this.lastPongAt <= this.timings.downAfterMs;
    const distinct = seq !== this.lastPongSeq;
    this.lastPongAt = now;
    this.lastPongSeq = seq;
    if (this.up) return null;
    if (!distinct) return null;
    this.pongsWhileDown = fresh ? this.pongsWhileDown + 1 : 1;
    if (this.pongsWhileDown < this.timings.upPongCount) return null;
    this.up = true;
    this.pongsWhileDown = 0;
    const after = now - this.since;
    this.since = now;
    return { to: 'up', after };
  }

  /** Up, but quiet for longer than suspectAfterMs. */
  suspect(now: number): boolean {
    return this.up && now - (this.lastPongAt ?? this.since) > this.timings.suspectAfterMs;
  }

  /** Called on every ping round: an up link with no recent pong goes down. */
  check(now: number): LinkTransition | null {
    if (!this.up) return null;
    const silentMs = now - (this.lastPongAt ?? this.since);
    if (silentMs <= this.timings.downAfterMs) return null;
    this.up = false;
    this.pongsWhileDown = 0;
    this.since = now;
    return { to: 'down', silentMs };
  }
}

/**
 * Passive link mode: the lowest-numbered live link carries everything (link 0 is
 * preferred, as with knet's equal priorities). While that link is suspect (pongs late,
 * not yet down) the next healthy link carries a copy too, so fewer messages are lost
 * in the moments before a failover; the receiver drops the duplicates. With no live
 * link, send on every link: at start nothing has been ponged yet.
 */
export function chooseLinks(links: readonly { link: number; up: boolean; suspect?: boolean }[]): number[] {
  const live = links.filter((l) => l.up).sort((a, b) => a.link - b.link);
  const first = live[0];
  if (first) {
    const backup = first.suspect ? live.find((l) => !l.suspect && l !== first) : undefined;
    return backup ? [first.link, backup.link] : [first.link];
  }
  return links.map((l) => l.link).sort((a, b) => a - b);
}
