// Tokens per second over a sliding window, for engine stats. Old samples are dropped as new
// ones arrive, so an engine nobody polls does not accumulate them.
export class RateMeter {
  private readonly samples: { t: number; n: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  add(n: number, now = performance.now()): void {
    this.samples.push({ t: now, n });
    this.trim(now);
  }

  perSecond(now = performance.now()): number {
    this.trim(now);
    const s = this.samples;
    const span = s.length > 1 ? (now - s[0].t) / 1000 : 0;
    return span > 0 ? s.reduce((a, r) => a + r.n, 0) / span : 0;
  }

  private trim(now: number): void {
    while (this.samples.length > 0 && now - this.samples[0].t > this.windowMs) this.samples.shift();
  }
}
