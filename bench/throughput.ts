// Serving throughput benchmark (see src/infer/throughput.ts for what each system is).
// Usage: npm run bench:throughput -- [--model PATH] [--requests N] [--prompt-len P] [--gen-len G] [--gen-spread S] [--concurrency C]
//        [--exit-fraction F] [--threshold T] [--kv-fill propagate|copy] [--kv-mb M] [--lora-rank R] [--threads N]
//        [--dtype f32|bf16|q8_0|q4_0] [--rounds R] [--systems a,b,...] [--paired] [--json]
import { benchThroughput, formatThroughput, type SystemName } from '../src/infer/throughput.js';
import type { WeightDType } from '../src/models/weights.js';

const args = process.argv.slice(2);
const num = (n: string, d?: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);
const str = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const report = await benchThroughput({
  model: str('--model'),
  requests: num('--requests'),
  promptLen: num('--prompt-len'),
  genLen: num('--gen-len'),
  genSpread: num('--gen-spread'),
  concurrency: num('--concurrency'),
  exitFraction: args.includes('--exit-fraction') ? num('--exit-fraction') : null,
  threshold: num('--threshold'),
  kvFill: str('--kv-fill') as 'propagate' | 'copy' | undefined,
  kvMb: num('--kv-mb'),
  loraRank: num('--lora-rank'),
  threads: num('--threads', 2),
  dtype: str('--dtype') as WeightDType | undefined,
  rounds: num('--rounds'),
  systems: str('--systems')?.split(',') as SystemName[] | undefined,
  paired: args.includes('--paired'),
});
console.log(args.includes('--json') ? JSON.stringify({ ...report, ...report.systems }) : formatThroughput(report, num('--threshold', 0.5)));
