// Progress on stderr. On a terminal: a cli-progress bar. Anywhere else (a log file, a pipe, a
// test): a plain line every 10 s, so a long stage shows it is alive without control codes.
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, label: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** draw the bar even when the stream is not a terminal */
  force?: boolean;
  /** where progress goes. @default process.stderr */
  stream?: { isTTY?: boolean; write(text: string): unknown };
  /** clock in milliseconds (tests). @default Date.now */
  now?: () => number;
  /** milliseconds between plain lines. @default 10000 */
  everyMs?: number;
}

export function progressBar(title: string, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (!stream.isTTY && !opts.force) return plainLines(title, stream, opts.now ?? Date.now, opts.everyMs ?? 10_000);
  return terminalBar(title);
}

/** One `title  40% (400/1000) label` line once `everyMs` has passed since the start or the last line. */
function plainLines(title: string, stream: { write(text: string): unknown }, now: () => number, everyMs: number): Progress {
  let last = now();
  return {
    update(done, total, label) {
      const t = now();
      if (t - last < everyMs) return;
      last = t;
      const percent = total > 0 ? Math.floor((100 * done) / total) : 0;
      stream.write(`${title.trimEnd()} ${percent}% (${done}/${total})${label ? ` ${label}` : ''}\n`);
    },
    stop() {},
  };
}

function terminalBar(title: string): Progress {
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
