// Progress bars on stderr (cli-progress), silent when stderr is not a terminal unless forced,
// so logs and tests get one summary line instead of control codes.
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, label: string): void;
  stop(): void;
}

export function progressBar(title: string, opts: { force?: boolean } = {}): Progress {
  if (!process.stderr.isTTY && !opts.force) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${title} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {label}`, stream: process.stderr, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, label) {
      if (!started) {
        bar.start(total, 0, { label: '' });
        started = true;
      }
      bar.update(done, { label: label.length > 40 ? '…' + label.slice(-39) : label });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
