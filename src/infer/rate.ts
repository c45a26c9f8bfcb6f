// Tokens per second over a sliding window, for engine stats. Old samples are dropped as new
// ones arrive, so an engine nobody polls does not accumulate them; a running total keeps a poll
// O(1) (the throughput benchmark polls between every step, thousands a second on small models).
export class RateMeter {
  private readonly times: number[] = [];
  private readonly counts: number[] = [];
  /** index of the oldest sample still in the window */
  private head = 0;
  private total = 0;

  constructor(private readonly windowMs = 5000) {}

  add(n: number, now = performance.now()): void {
    this.times.push(now);
    this.counts.push(n);
    this.total += n;
    this.trim(now);
  }

  perSecond(now = performance.now()): number {
    this.trim(now);
    const span = this.times.length - this.head > 1 ? (now - this.times[this.head]) / 1000 : 0;
    return span > 0 ? this.total / span : 0;
  }

  private trim(now: number): void {
    while (this.head < this.times.length && now - this.times[this.head] > this.windowMs) this.total -= this.counts[this.head++];
    // drop the expired prefix once it is most of the arrays
    if (this.head > 1024 && 2 * this.head > this.times.length) {
      this.times.splice(0, this.head);
      this.counts.splice(0, this.head);
      this.head = 0;
    }
  }
}
