import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RESYNC_DEFAULTS, RESYNC_TICK_MS, ResyncRateController, type ResyncRateConfig } from '../../src/volume/resync-rate.js';

/** Sectors per tick that c-max-rate allows (KiB/s × 2 sectors/KiB × 0.1 s). */
const maxSectorsPerTick = (c: ResyncRateConfig): number => Math.floor((c.cMaxRateKiBps * 2) / 10);

test('defaults are DRBD 8.4 defaults', () => {
  assert.deepEqual({ ...RESYNC_DEFAULTS }, {
    resyncRateKiBps: 250,
    cPlanAheadTenths: 20,
    cFillTargetSectors: 100,
    cDelayTargetTenths: 10,
    cMaxRateKiBps: 102400,
    cMinRateKiBps: 250,
    maxBuffers: 2048,
  });
  assert.equal(RESYNC_TICK_MS, 100);
});

test('first tick ramps up from resync-rate spread over the plan', () => {
  const c = new ResyncRateController({ ...RESYNC_DEFAULTS });
  // want = 250*2/10 * 20 steps = 1000 sectors; 1000/20 = 50 this tick -> 6 whole blocks.
  const out = c.tick({ sectorsAckedSinceLastTick: 0, sectorsInFlight: 0, applicationIoSectorsSinceLastTick: 0 });
  assert.deepEqual(out, { requestSectors: 48, wantKiBps: 240, throttledByApplicationIo: false });
  assert.equal(c.plannedSectors, 1000 - 50);
});

test('rejects bad configuration and bad input', () => {
  assert.throws(() => new ResyncRateController({ cMaxRateKiBps: -1 }), RangeError);
  assert.throws(() => new ResyncRateController({ maxBuffers: 1.5 }), RangeError);
  const c = new ResyncRateController();
  assert.throws(() => c.tick({ sectorsAckedSinceLastTick: -8, sectorsInFlight: 0, applicationIoSectorsSinceLastTick: 0 }), RangeError);
});

const configArb = fc.record({
  resyncRateKiBps: fc.integer({ min: 1, max: 4_000_000 }),
  cPlanAheadTenths: fc.integer({ min: 1, max: 300 }),
  cFillTargetSectors: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_000_000 })),
  cDelayTargetTenths: fc.integer({ min: 1, max: 100 }),
  cMaxRateKiBps: fc.integer({ min: 250, max: 4_000_000 }),
  cMinRateKiBps: fc.integer({ min: 0, max: 4_000_000 }),
  maxBuffers: fc.integer({ min: 32, max: 131072 }),
});
const inputArb = fc.record({
  sectorsAckedSinceLastTick: fc.integer({ min: 0, max: 2_000_000 }),
  sectorsInFlight: fc.integer({ min: 0, max: 2_000_000 }),
  applicationIoSectorsSinceLastTick: fc.integer({ min: 0, max: 10_000 }),
});

test('property: requests are whole blocks, never negative, never above c-max-rate per tick', () => {
  fc.assert(
    fc.property(configArb, fc.array(inputArb, { minLength: 1, maxLength: 200 }), (config, inputs) => {
      const c = new ResyncRateController(config);
      for (const input of inputs) {
        const out = c.tick(input);
        assert.ok(out.requestSectors >= 0);
        assert.equal(out.requestSectors % 8, 0);
        assert.ok(out.requestSectors <= maxSectorsPerTick(config), `${out.requestSectors} > ${maxSectorsPerTick(config)}`);
        assert.ok(out.wantKiBps >= 0 && out.wantKiBps <= config.cMaxRateKiBps);
        // max-buffers: never more than that many 4 KiB pages in flight
        assert.ok(input.sectorsInFlight / 8 + out.requestSectors / 8 <= Math.max(config.maxBuffers, input.sectorsInFlight / 8) + 1);
      }
    }),
    { numRuns: 300 },
  );
});

test('property: c-plan-ahead 0 gives exactly resync-rate over time', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 600 }), (rate, ticks) => {
      const c = new ResyncRateController({ resyncRateKiBps: rate, cPlanAheadTenths: 0, maxBuffers: 1 << 30, cMinRateKiBps: 0 });
      let sectors = 0;
      for (let i = 0; i < ticks; i++) {
        const out = c.tick({ sectorsAckedSinceLastTick: 0, sectorsInFlight: 0, applicationIoSectorsSinceLastTick: 0 });
        assert.equal(out.wantKiBps, rate);
        assert.ok(out.requestSectors <= Math.ceil(rate / 40) * 8);
        sectors += out.requestSectors;
      }
      const kib = sectors / 2;
      const expected = (rate * ticks) / 10;
      // within one 4 KiB block of the exact amount, at every point in time
      assert.ok(kib <= expected && expected - kib < 4, `${kib} KiB vs ${expected} KiB`);
    }),
  );
});

test('fixed rate still respects max-buffers', () => {
  const c = new ResyncRateController({ resyncRateKiBps: 100_000, cPlanAheadTenths: 0, maxBuffers: 100 });
  const out = c.tick({ sectorsAckedSinceLastTick: 0, sectorsInFlight: 90 * 8, applicationIoSectorsSinceLastTick: 0 });
  assert.equal(out.requestSectors, 10 * 8);
  const full = c.tick({ sectorsAckedSinceLastTick: 0, sectorsInFlight: 200 * 8, applicationIoSectorsSinceLastTick: 0 });
  assert.equal(full.requestSectors, 0);
});

// ---- a simulated link: FIFO queue served at a fixed capacity, replies after a latency ----

interface SimOptions {
  config: Partial<ResyncRateConfig>;
  capacityKiBps: number;
  latencyMs: number;
  seconds: number;
  /** Application I/O sectors in the tick starting at this time. */
  appIo?: (ms: number) => number;
}

interface SimTick {
  ms: number;
  ackedSectors: number;
  requestSectors: number;
  wantKiBps: number;
  throttled: boolean;
}

function simulate(o: SimOptions): SimTick[] {
  const ctl = new ResyncRateController(o.config);
  const capPerMs = (o.capacityKiBps * 2) / 1000; // sectors per ms
  const acks = new Array<number>(o.latencyMs + 1).fill(0); // ring indexed by ms
  let queue = 0;
  let budget = 0;
  let inFlight = 0;
  let ackedSinceTick = 0;
  const out: SimTick[] = [];
  for (let ms = 0; ms < o.seconds * 1000; ms++) {
    const slot = ms % acks.length;
    ackedSinceTick += acks[slot]!;
    acks[slot] = 0;
    if (ms % RESYNC_TICK_MS === 0) {
      inFlight -= ackedSinceTick;
      const r = ctl.tick({
        sectorsAckedSinceLastTick: ackedSinceTick,
        sectorsInFlight: inFlight,
        applicationIoSectorsSinceLastTick: o.appIo?.(ms) ?? 0,
      });
      out.push({ ms, ackedSectors: ackedSinceTick, requestSectors: r.requestSectors, wantKiBps: r.wantKiBps, throttled: r.throttledByApplicationIo });
      ackedSinceTick = 0;
      inFlight += r.requestSectors;
      queue += r.requestSectors;
    }
    budget += capPerMs;
    const served = Math.min(queue, Math.floor(budget));
    queue -= served;
    budget -= served;
    if (queue === 0) budget = Math.min(budget, capPerMs);
    acks[(ms + o.latencyMs) % acks.length]! += served;
  }
  return out;
}

/** Mean reply rate in KiB/s over the ticks within [fromS, toS). */
function meanKiBps(ticks: SimTick[], fromS: number, toS: number): number {
  const sel = ticks.filter((t) => t.ms >= fromS * 1000 && t.ms < toS * 1000);
  return sel.reduce((a, t) => a + t.ackedSectors, 0) / 2 / (sel.length * (RESYNC_TICK_MS / 1000));
}

test('simulation: with c-fill-target ≈ 3 × BDP the rate converges to the link capacity within seconds', () => {
  // 40 MiB/s, 20 ms: BDP = 800 KiB = 1600 sectors; UG84's tip: fill target ≈ 3 × BDP.
  const capacity = 40 * 1024;
  const ticks = simulate({ config: { cFillTargetSectors: 4800, cMinRateKiBps: 0 }, capacityKiBps: capacity, latencyMs: 20, seconds: 12 });
  const settled = meanKiBps(ticks, 3, 12);
  assert.ok(settled > 0.97 * capacity && settled <= capacity * 1.001, `settled at ${settled} KiB/s`);
  // every second from the third on is near capacity, not only the mean
  for (let s = 3; s < 12; s++) assert.ok(meanKiBps(ticks, s, s + 1) > 0.95 * capacity, `second ${s}: ${meanKiBps(ticks, s, s + 1)}`);
  const want = ticks.at(-1)!.wantKiBps;
  assert.ok(want > 0.9 * capacity && want < 1.1 * capacity, `want ${want}`);
});

test('simulation: a fast link is bounded by c-max-rate', () => {
  const cMax = 100 * 1024;
  const ticks = simulate({
    config: { cFillTargetSectors: 8000, cMinRateKiBps: 0, maxBuffers: 8000 },
    capacityKiBps: 1024 * 1024,
    latencyMs: 2,
    seconds: 10,
  });
  for (const t of ticks) assert.ok(t.requestSectors <= (cMax * 2) / 10);
  const settled = meanKiBps(ticks, 4, 10);
  assert.ok(settled > 0.98 * cMax && settled <= cMax, `settled at ${settled} KiB/s`);
  assert.equal(ticks.at(-1)!.wantKiBps, cMax);
});

test('simulation: the default max-buffers (2048 pages per 100 ms) caps resync at 80 MiB/s', () => {
  const ticks = simulate({ config: { cFillTargetSectors: 8000, cMinRateKiBps: 0 }, capacityKiBps: 1024 * 1024, latencyMs: 2, seconds: 10 });
  assert.equal(meanKiBps(ticks, 5, 10), 2048 * 4 * 10);
});

test('simulation: c-delay-target mode (no fill target) also converges to capacity', () => {
  const capacity = 20 * 1024;
  const ticks = simulate({ config: { cFillTargetSectors: 0, cDelayTargetTenths: 10, cMinRateKiBps: 0 }, capacityKiBps: capacity, latencyMs: 20, seconds: 15 });
  const settled = meanKiBps(ticks, 5, 15);
  assert.ok(settled > 0.9 * capacity && settled <= capacity * 1.001, `settled at ${settled} KiB/s`);
});

test('simulation: with a long round trip the default 50 KiB fill target limits the rate to about fill/RTT', () => {
  // 100 sectors in flight per 300 ms round trip ≈ 170 KiB/s, however fast the link.
  const ticks = simulate({ config: {}, capacityKiBps: 1024 * 1024, latencyMs: 300, seconds: 15 });
  const settled = meanKiBps(ticks, 5, 15);
  assert.ok(settled > 100 && settled < 300, `settled at ${settled} KiB/s`);
});

test('simulation: application I/O throttles resync down towards c-min-rate, and it recovers after', () => {
  const cMin = 10 * 1024;
  const cMax = 100 * 1024;
  const appFrom = 6000;
  const appTo = 26000;
  const ticks = simulate({
    config: { cFillTargetSectors: 8000, cMinRateKiBps: cMin, maxBuffers: 8000 },
    capacityKiBps: 400 * 1024,
    latencyMs: 2,
    seconds: 35,
    appIo: (ms) => (ms >= appFrom && ms < appTo ? 2000 : 0),
  });
  const before = meanKiBps(ticks, 4, 6);
  assert.ok(before > 0.9 * cMax, `before: ${before}`);
  assert.ok(!ticks.some((t) => t.ms < appFrom && t.throttled));
  const during = meanKiBps(ticks, 16, 26);
  assert.ok(during > 0.5 * cMin && during < 1.5 * cMin, `during application I/O: ${during} KiB/s (c-min-rate ${cMin})`);
  assert.ok(ticks.some((t) => t.throttled));
  const after = meanKiBps(ticks, 31, 35);
  assert.ok(after > 0.9 * cMax, `after: ${after}`);
});

test('c-min-rate: no throttle below c-min-rate, none when disabled, none without application I/O', () => {
  const run = (config: Partial<ResyncRateConfig>, appIo: number, capacity: number): SimTick[] =>
    simulate({ config: { cFillTargetSectors: 4000, ...config }, capacityKiBps: capacity, latencyMs: 2, seconds: 8, appIo: () => appIo });
  // link slower than c-min-rate: application I/O does not hold resync back
  assert.ok(!run({ cMinRateKiBps: 20 * 1024 }, 5000, 10 * 1024).some((t) => t.throttled));
  // c-min-rate 0 disables the throttle
  assert.ok(!run({ cMinRateKiBps: 0 }, 5000, 200 * 1024).some((t) => t.throttled));
  // a trickle of application I/O (≤ 64 sectors in total) is not "active"
  const c = new ResyncRateController({ cMinRateKiBps: 1 });
  for (let i = 0; i < 64; i++) {
    const out = c.tick({ sectorsAckedSinceLastTick: 8000, sectorsInFlight: 100, applicationIoSectorsSinceLastTick: i === 0 ? 64 : 0 });
    assert.equal(out.throttledByApplicationIo, false);
  }
  assert.equal(c.tick({ sectorsAckedSinceLastTick: 8000, sectorsInFlight: 100, applicationIoSectorsSinceLastTick: 1 }).throttledByApplicationIo, true);
});

test('reset forgets the plan', () => {
  const c = new ResyncRateController();
  c.tick({ sectorsAckedSinceLastTick: 0, sectorsInFlight: 0, applicationIoSectorsSinceLastTick: 0 });
  assert.notEqual(c.plannedSectors, 0);
  c.reset();
  assert.equal(c.plannedSectors, 0);
  assert.deepEqual(c.tick({ sectorsAckedSinceLastTick: 0, sectorsInFlight: 0, applicationIoSectorsSinceLastTick: 0 }).requestSectors, 48);
});
