// The evaluation task registry: for each named task, its file(s) under the data directory
// (data/eval/ in the package, whose README gives each file's source and licence; a file may be
// stored gzip-compressed as FILE.gz), a loader that turns the file into examples with
// lm-evaluation-harness's prompt strings, and few-shot formatting.
// Contract: an Example's continuations start with lm-eval's target delimiter " " and are scored
// exactly as given; contexts and continuations are either shared (one) or one per choice.
//
// Deviations from lm-eval's default tasks, all forced by the data we have:
//  - ARC-Easy/Challenge come from llm-foundry's jsonl, which padded 3-choice items with a
//    duplicate wrong choice and cut 5-choice items to 4 (SOURCES.md); question ids are absent.
//  - WinoGrande comes from llm-foundry's schema jsonl: its context_options are lm-eval's
//    partial_context strings and its continuation is lm-eval's partial_target (before the " ").
//  - Few-shot examples are drawn from the scored file itself (lm-eval uses the training split,
//    which is not available here) with our own seeded generator, not Python's random.Random(1234):
//    the same --seed gives the same shots, but not lm-eval's shots.
// PIQA (original release + labels), OpenBookQA (llm-foundry's jsonl: stems, choices and golds
// checked equal to the original release TSV), HellaSwag (already preprocessed as lm-eval does)
// and LAMBADA (OpenAI's lambada_test.jsonl, split at the last ' ' as lm-eval's lambada_openai
// does) match lm-eval's strings exactly.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { FormatError, InputError } from '../errors.js';
import { mulberry32 } from '../tensor/random.js';

/** The evaluation data shipped with the package (data/eval/, from src/eval/ and from dist/eval/ alike). */
export const BUNDLED_EVAL_DATA = fileURLToPath(new URL('../../data/eval/', import.meta.url));

/** lm-eval's default target_delimiter and fewshot_delimiter. */
export const TARGET_DELIMITER = ' ';
export const FEWSHOT_DELIMITER = '\n\n';

export interface Example {
  /** one shared context, or one per choice (partial scoring, WinoGrande) */
  contexts: string[];
  /** one shared continuation (partial scoring), or one per choice; each starts with TARGET_DELIMITER */
  continuations: string[];
  /** index of the correct choice (0 for LAMBADA's single target) */
  gold: number;
}

export type TaskKind = 'choice' | 'lambada';

export interface TaskSpec {
  name: string;
  kind: TaskKind;
  /** files relative to the data directory */
  files: string[];
  load(dataDir: string): Example[];
  /** the example written out with its answer, as lm-eval writes a few-shot demonstration */
  demonstration(ex: Example): string;
}

export function choiceCount(ex: Example): number {
  return Math.max(ex.contexts.length, ex.continuations.length);
}

export function contextOf(ex: Example, i: number): string {
  return ex.contexts.length === 1 ? ex.contexts[0] : ex.contexts[i];
}

export function continuationOf(ex: Example, i: number): string {
  return ex.continuations.length === 1 ? ex.continuations[0] : ex.continuations[i];
}

/** doc_to_text + target_delimiter + doc_to_target, where the continuation already holds the delimiter. */
function withAnswer(ex: Example): string {
  return contextOf(ex, ex.gold) + continuationOf(ex, ex.gold);
}

/** FILE, or its gzip-compressed FILE.gz (how the large files are shipped). */
function readText(dataDir: string, file: string): { path: string; text: string } {
  const path = join(dataDir, file);
  if (existsSync(path)) return { path, text: readFileSync(path, 'utf8') };
  if (existsSync(path + '.gz')) return { path: path + '.gz', text: gunzipSync(readFileSync(path + '.gz')).toString('utf8') };
  throw new InputError('not_found', `${path} not found, nor ${file}.gz (is --data-dir right? it should have the layout of the package's data/eval/)`);
}

function lines(text: string): string[] {
  const ls = text.split('\n');
  if (ls.length > 0 && ls[ls.length - 1] === '') ls.pop();
  return ls.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

function readJsonl(dataDir: string, file: string): { path: string; rows: Record<string, unknown>[] } {
  const { path, text } = readText(dataDir, file);
  const rows = lines(text).map((l, i) => {
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch (e) {
      throw new FormatError('bad_header', `line ${i + 1} is not valid JSON (${(e as Error).message})`, { file: path });
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FormatError('bad_header', `line ${i + 1} is not a JSON object`, { file: path });
    return v as Record<string, unknown>;
  });
  return { path, rows };
}

function str(row: Record<string, unknown>, key: string, path: string, line: number): string {
  const v = row[key];
  if (typeof v !== 'string') throw new FormatError('bad_header', `line ${line}: "${key}" must be a string`, { file: path });
  return v;
}

function strArray(row: Record<string, unknown>, key: string, path: string, line: number): string[] {
  const v = row[key];
  if (!Array.isArray(v) || v.length < 1 || !v.every((s) => typeof s === 'string')) throw new FormatError('bad_header', `line ${line}: "${key}" must be a non-empty array of strings`, { file: path });
  return v as string[];
}

function goldIndex(v: unknown, n: number, path: string, line: number): number {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= n) throw new FormatError('bad_header', `line ${line}: gold ${String(v)} is not a choice index in [0, ${n})`, { file: path });
  return v as number;
}

const delimit = (s: string) => TARGET_DELIMITER + s;

/** PIQA, original release: {"goal","sol1","sol2"} + one label per line. lm-eval: "Question: {goal}\nAnswer:" + " {sol}". */
function loadPiqa(dataDir: string): Example[] {
  const { path, rows } = readJsonl(dataDir, 'piqa/valid.jsonl');
  const labelsFile = readText(dataDir, 'piqa/valid-labels.lst');
  const labels = lines(labelsFile.text);
  if (labels.length !== rows.length) throw new FormatError('shape_size_mismatch', `${labels.length} labels for ${rows.length} examples in ${path}`, { file: labelsFile.path });
  return rows.map((r, i) => ({
    contexts: [`Question: ${str(r, 'goal', path, i + 1)}\nAnswer:`],
    continuations: [str(r, 'sol1', path, i + 1), str(r, 'sol2', path, i + 1)].map(delimit),
    gold: goldIndex(labels[i].trim() === '' ? NaN : Number(labels[i]), 2, labelsFile.path, i + 1),
  }));
}

/** llm-foundry multiple choice {"query","choices","gold"}; `suffix` completes the query to lm-eval's doc_to_text. */
function loadFoundryChoice(file: string, suffix: string) {
  return (dataDir: string): Example[] => {
    const { path, rows } = readJsonl(dataDir, file);
    return rows.map((r, i) => {
      const choices = strArray(r, 'choices', path, i + 1);
      return { contexts: [str(r, 'query', path, i + 1) + suffix], continuations: choices.map(delimit), gold: goldIndex(r.gold, choices.length, path, i + 1) };
    });
  };
}

/** llama.cpp's HellaSwag text: per task, the preprocessed context, the gold label, then 4 endings. */
function loadHellaswag(dataDir: string): Example[] {
  const { path, text } = readText(dataDir, 'hellaswag/hellaswag_val_full.txt');
  const ls = lines(text);
  if (ls.length % 6 !== 0) throw new FormatError('truncated', `${ls.length} lines; expected 6 per task (context, label, 4 endings)`, { file: path });
  const out: Example[] = [];
  for (let i = 0; i < ls.length; i += 6) {
    const label = /^[0-3]$/.test(ls[i + 1]) ? Number(ls[i + 1]) : NaN;
    out.push({ contexts: [ls[i]], continuations: ls.slice(i + 2, i + 6).map(delimit), gold: goldIndex(label, 4, path, i + 2) });
  }
  return out;
}

/** llm-foundry schema {"context_options","continuation","gold"}: lm-eval's partial scoring. */
function loadWinogrande(dataDir: string): Example[] {
  const { path, rows } = readJsonl(dataDir, 'winogrande/winogrande.jsonl');
  return rows.map((r, i) => {
    const options = strArray(r, 'context_options', path, i + 1);
    return { contexts: options, continuations: [delimit(str(r, 'continuation', path, i + 1))], gold: goldIndex(r.gold, options.length, path, i + 1) };
  });
}

/** OpenAI's lambada_test.jsonl {"text"}: lm-eval's lambada_openai splits at the last ' '. */
function loadLambada(dataDir: string): Example[] {
  const { path, rows } = readJsonl(dataDir, 'lambada_openai/lambada_test.jsonl');
  return rows.map((r, i) => {
    const text = str(r, 'text', path, i + 1);
    const cut = text.lastIndexOf(' ');
    if (cut < 0) throw new FormatError('bad_header', `line ${i + 1}: text has no space to split the target word at`, { file: path });
    return { contexts: [text.slice(0, cut)], continuations: [' ' + text.slice(cut + 1)], gold: 0 };
  });
}

export const TASKS: Record<string, TaskSpec> = {
  piqa: { name: 'piqa', kind: 'choice', files: ['piqa/valid.jsonl', 'piqa/valid-labels.lst'], load: loadPiqa, demonstration: withAnswer },
  'arc-easy': { name: 'arc-easy', kind: 'choice', files: ['arc_easy/arc_easy.jsonl'], load: loadFoundryChoice('arc_easy/arc_easy.jsonl', '\nAnswer:'), demonstration: withAnswer },
  'arc-challenge': {
    name: 'arc-challenge',
    kind: 'choice',
    files: ['arc_challenge/arc_challenge.jsonl'],
    load: loadFoundryChoice('arc_challenge/arc_challenge.jsonl', '\nAnswer:'),
    demonstration: withAnswer,
  },
  openbookqa: { name: 'openbookqa', kind: 'choice', files: ['openbookqa/openbook_qa.jsonl'], load: loadFoundryChoice('openbookqa/openbook_qa.jsonl', ''), demonstration: withAnswer },
  hellaswag: { name: 'hellaswag', kind: 'choice', files: ['hellaswag/hellaswag_val_full.txt'], load: loadHellaswag, demonstration: withAnswer },
  winogrande: { name: 'winogrande', kind: 'choice', files: ['winogrande/winogrande.jsonl'], load: loadWinogrande, demonstration: withAnswer },
  // lm-eval's doc_to_target is ' ' + word and the sampler adds target_delimiter ' ' again: its
  // LAMBADA demonstrations have two spaces before the word (it warns about it); we copy that.
  lambada: { name: 'lambada', kind: 'lambada', files: ['lambada_openai/lambada_test.jsonl'], load: loadLambada, demonstration: (ex) => ex.contexts[0] + TARGET_DELIMITER + ex.continuations[0] },
};

export type ParsedTask =
  | { kind: 'ppl'; name: string; path: string }
  | { kind: 'ids'; name: string; path: string }
  | { kind: 'registry'; name: string; spec: TaskSpec };

export function taskNames(): string[] {
  return [...Object.keys(TASKS), 'ppl:FILE', 'ids:FILE.json'];
}

/** 'piqa' → the registry entry; 'ppl:FILE' → perplexity of a text (or packed token) file; 'ids:FILE.json' → perplexity of a JSON id array. */
export function parseTask(name: string): ParsedTask {
  if (name.startsWith('ppl:') && name.length > 4) return { kind: 'ppl', name, path: name.slice(4) };
  if (name.startsWith('ids:') && name.length > 4) return { kind: 'ids', name, path: name.slice(4) };
  const spec = TASKS[name];
  if (!spec) throw new InputError('bad_option', `unknown task '${name}'; valid tasks: ${taskNames().join(', ')}`);
  return { kind: 'registry', name, spec };
}

/** 32-bit mixing of (seed, index) into a mulberry32 state, so each example's shots depend only on them. */
function examplePrng(seed: number, index: number): () => number {
  return mulberry32(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
}

/**
 * Indices of the k demonstrations for example `index` out of a pool of n: distinct, never `index`
 * itself, in draw order; a function of (n, index, k, seed) only (so --limit does not change them).
 */
export function fewShotIndices(n: number, index: number, k: number, seed: number): number[] {
  if (k > n - 1) throw new InputError('bad_option', `--shots ${k} needs at least ${k + 1} examples in the file, it has ${n}`);
  const rnd = examplePrng(seed, index);
  const picked = new Set<number>();
  const out: number[] = [];
  while (out.length < k) {
    const j = Math.floor(rnd() * n);
    if (j === index || picked.has(j)) continue;
    picked.add(j);
    out.push(j);
  }
  return out;
}

/** The example with k demonstrations from `pool` prepended to each context, joined as lm-eval joins them. */
export function withShots(spec: TaskSpec, pool: readonly Example[], index: number, k: number, seed: number): Example {
  const ex = pool[index];
  if (k === 0) return ex;
  const prefix = fewShotIndices(pool.length, index, k, seed)
    .map((j) => spec.demonstration(pool[j]) + FEWSHOT_DELIMITER)
    .join('');
  return { ...ex, contexts: ex.contexts.map((c) => prefix + c) };
}
