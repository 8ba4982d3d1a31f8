// How fast a resync (or online verify) asks its peer for blocks: DRBD 8.4's dynamic
// resync-rate controller (drbd_worker.c: drbd_rs_controller, drbd_rs_number_requests)
// plus the c-min-rate throttle (drbd_receiver.c: drbd_rs_c_min_rate_throttle).
//
// The sync target calls `tick()` once every RESYNC_TICK_MS (DRBD's SLEEP_TIME, 100 ms)
// and issues resync requests for `requestSectors` sectors in that turn. Pure: no clock;
// the caller tells what was acknowledged since the previous tick and what is still
// outstanding.
//
// The controller aims at keeping a target amount of resync data in flight:
//   - `c-fill-target` sectors when set (a fixed amount, ≈ 3 × bandwidth-delay product),
//   - else `c-delay-target` worth of the current reply rate (acks/tick × delay in ticks).
// It spreads the correction towards that target over `c-plan-ahead` ticks through a
// FIFO "plan": every tick the correction divided by the number of steps is added to each
// slot and the oldest slot is taken out as this tick's extra on top of the reply rate.
// The result is capped at `c-max-rate`, converted to whole 4 KiB blocks, and capped so
// that no more than `max-buffers` pages are in flight at the peer.
// `c-plan-ahead 0` switches the controller off: a fixed `resync-rate`.

/** DRBD's SLEEP_TIME: the controller runs every 100 ms. */
export const RESYNC_TICK_MS = 100;
/** Resync requests are whole bitmap blocks: 4 KiB = 8 sectors. */
export const SECTORS_PER_BLOCK = 8;
/** Application I/O of more than this many sectors since the last look counts as "active" (DRBD's 64). */
export const APPLICATION_IO_ACTIVE_SECTORS = 64;
/** The c-min-rate throttle compares against the resync rate over this many recent ticks (≈ 6 s). */
export const C_MIN_RATE_WINDOW_TICKS = 60;

export interface ResyncRateConfig {
  /** `resync-rate`, KiB/s: the fixed rate when c-plan-ahead is 0, and the initial ramp otherwise. */
  resyncRateKiBps: number;
  /** `c-plan-ahead`, 0.1 s units: number of 100 ms steps the correction is spread over; 0 = fixed rate. */
  cPlanAheadTenths: number;
  /** `c-fill-target`, sectors in flight to aim for; 0 = use c-delay-target instead. */
  cFillTargetSectors: number;
  /** `c-delay-target`, 0.1 s units: aim for this much of the reply rate in flight. */
  cDelayTargetTenths: number;
  /** `c-max-rate`, KiB/s: upper bound of the dynamic controller. */
  cMaxRateKiBps: number;
  /** `c-min-rate`, KiB/s: with application I/O active, resync above this rate is held back; 0 = off. */
  cMinRateKiBps: number;
  /** `max-buffers`, 4 KiB pages: at most this many resync blocks in flight. */
  maxBuffers: number;
}

/** DRBD's defaults (drbd_limits.h). */
export const RESYNC_DEFAULTS: Readonly<ResyncRateConfig> = Object.freeze({
  resyncRateKiBps: 250,
  cPlanAheadTenths: 20,
  cFillTargetSectors: 100,
  cDelayTargetTenths: 10,
  cMaxRateKiBps: 102400,
  cMinRateKiBps: 250,
  maxBuffers: 2048,
});

export interface ResyncTickInput {
  /** Resync sectors whose replies arrived since the previous tick (DRBD's rs_sect_in). */
  sectorsAckedSinceLastTick: number;
  /** Resync sectors requested and not yet answered, after counting those acks (rs_in_flight). */
  sectorsInFlight: number;
  /** Sectors of application (non-resync) I/O on the backing device since the previous tick. */
  applicationIoSectorsSinceLastTick: number;
}

export interface ResyncTickOutput {
  /** Sectors to request in this turn: a multiple of 8 (whole 4 KiB blocks), never negative. */
  requestSectors: number;
  /** The controller's current target rate in KiB/s (DRBD's c_sync_rate, shown as `want:`). */
  wantKiBps: number;
  /** True when the c-min-rate throttle held this turn's requests back. */
  throttledByApplicationIo: boolean;
}

function assertCount(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
}

export class ResyncRateController {
  readonly config: Readonly<ResyncRateConfig>;
  /** Plan FIFO: `steps` slots of sector corrections; head is the next slot taken out. */
  private readonly plan: number[];
  private planHead = 0;
  private planTotal = 0;
  /** Fixed-rate mode: carried remainder in units of KiB/10, so the long-run rate is exact. */
  private fixedCredit = 0;
  /** Application I/O sectors seen since the throttle last noticed application I/O. */
  private appIoSectors = 0;
  /** Ring of acked sectors per tick for the c-min-rate comparison. */
  private readonly ackWindow: number[] = [];
  private ackWindowSum = 0;

  constructor(config: Partial<ResyncRateConfig> = {}) {
    const c = { ...RESYNC_DEFAULTS, ...config };
    for (const [k, v] of Object.entries(c)) assertCount(k, v);
    this.config = Object.freeze(c);
    this.plan = new Array<number>(c.cPlanAheadTenths).fill(0);
  }

  /** Number of plan steps (c-plan-ahead in ticks); 0 means fixed-rate mode. */
  get steps(): number {
    return this.plan.length;
  }

  /** Sum of the corrections already planned for the coming ticks (DRBD's plan->total). */
  get plannedSectors(): number {
    return this.planTotal;
  }

  /** Forget the plan and the rate history, as DRBD does when a resync starts. */
  reset(): void {
    this.plan.fill(0);
    this.planHead = 0;
    this.planTotal = 0;
    this.fixedCredit = 0;
    this.appIoSectors = 0;
    this.ackWindow.length = 0;
    this.ackWindowSum = 0;
  }

  tick(input: ResyncTickInput): ResyncTickOutput {
    const sectIn = input.sectorsAckedSinceLastTick;
    const inFlight = input.sectorsInFlight;
    assertCount('sectorsAckedSinceLastTick', sectIn);
    assertCount('sectorsInFlight', inFlight);
    assertCount('applicationIoSectorsSinceLastTick', input.applicationIoSectorsSinceLastTick);
    const c = this.config;

    let blocks: number;
    let wantKiBps: number;
    if (this.steps > 0) {
      blocks = Math.floor(this.controller(sectIn, inFlight) / SECTORS_PER_BLOCK);
      // blocks per 100 ms × 4 KiB × 10 ticks/s
      wantKiBps = blocks * 4 * (1000 / RESYNC_TICK_MS);
    } else {
      // Fixed rate: resync-rate/10 KiB per tick = resync-rate/40 blocks. DRBD truncates
      // every tick (250 KiB/s gives 6 blocks = 240 KiB/s); we carry the remainder so
      // the long-run rate is exactly resync-rate.
      wantKiBps = c.resyncRateKiBps;
      this.fixedCredit += c.resyncRateKiBps;
      blocks = Math.floor(this.fixedCredit / 40);
      this.fixedCredit -= blocks * 40;
    }

    // No more than max-buffers pages in flight at the peer (in-flight is in sectors).
    const room = c.maxBuffers - Math.floor(inFlight / SECTORS_PER_BLOCK);
    if (room < blocks) blocks = room;
    if (blocks < 0) blocks = 0;

    const throttled = this.minRateThrottle(sectIn, input.applicationIoSectorsSinceLastTick);
    return {
      requestSectors: throttled ? 0 : blocks * SECTORS_PER_BLOCK,
      wantKiBps,
      throttledByApplicationIo: throttled,
    };
  }

  /** drbd_rs_controller: sectors to request this tick, in [0, c-max-rate × 0.1 s]. */
  private controller(sectIn: number, inFlight: number): number {
    const c = this.config;
    const steps = this.steps;
    const ticksPerSecond = 1000 / RESYNC_TICK_MS;
    let want: number;
    if (inFlight + sectIn === 0) {
      // At the start of a resync: plan resync-rate for the whole plan-ahead period.
      want = Math.floor((c.resyncRateKiBps * 2) / ticksPerSecond) * steps;
    } else if (c.cFillTargetSectors > 0) {
      want = c.cFillTargetSectors;
    } else {
      // c-delay-target is in 0.1 s = ticks: keep that many ticks of replies in flight.
      want = sectIn * c.cDelayTargetTenths;
    }

    const correction = want - inFlight - this.planTotal;
    const cps = Math.trunc(correction / steps); // C integer division
    for (let i = 0; i < steps; i++) this.plan[i]! += cps;
    this.planTotal += cps * steps;

    const curr = this.plan[this.planHead]!;
    this.plan[this.planHead] = 0;
    this.planHead = (this.planHead + 1) % steps;
    this.planTotal -= curr;

    let req = sectIn + curr;
    if (req < 0) req = 0;
    const maxSect = Math.floor((c.cMaxRateKiBps * 2) / ticksPerSecond);
    if (req > maxSect) req = maxSect;
    return req;
  }

  /**
   * drbd_rs_c_min_rate_throttle: when application I/O is active and the recent resync
   * rate is above c-min-rate, hold resync requests back so the application gets the disk.
   */
  private minRateThrottle(sectIn: number, appIo: number): boolean {
    this.ackWindow.push(sectIn);
    this.ackWindowSum += sectIn;
    if (this.ackWindow.length > C_MIN_RATE_WINDOW_TICKS) this.ackWindowSum -= this.ackWindow.shift()!;

    const cMin = this.config.cMinRateKiBps;
    if (cMin === 0) return false;
    this.appIoSectors += appIo;
    if (this.appIoSectors <= APPLICATION_IO_ACTIVE_SECTORS) return false;
    this.appIoSectors = 0;
    return this.recentRateKiBps() > cMin;
  }

  /** Resync reply rate over the last C_MIN_RATE_WINDOW_TICKS ticks (at least 1 s), KiB/s. */
  recentRateKiBps(): number {
    const seconds = Math.max(1, (this.ackWindow.length * RESYNC_TICK_MS) / 1000);
    return this.ackWindowSum / 2 / seconds;
  }
}
