// rrt's own numbers for one batch, as the reference that the PyTorch bridge (python/rrt_torch)
// is checked against: the logits (and each loop's exit logits), the training loss with its parts,
// and the gradient of every stored tensor, under its checkpoint name (a shared slot once: the sum
// over the depths that use it; GPT-2's Conv1D gradients in the stored [in, out] orientation).
//
//   node --import tsx scripts/torch-reference.ts MODEL OUT.safetensors --ids 1,5,9,... --batch 2
//        [--teacher DIR|none] [--distill-weight 0.5] [--temperature 1] [--exit-loss none|aggressive|weighted] [--exit-weight 0.1]
//
// OUT.safetensors holds logits [B, T, V], exit.{b} [B, T, V] and grad.{name}; stdout prints
// {"loss", "ce", "kd", "exitCe"} as JSON. Targets are the inputs shifted by one (the last
// position of each sequence predicts nothing: it is ignored, as rrt's data windows never have it).
import { parseArgs } from 'node:util';
import { loadModel } from '../src/models/load.js';
import { checkpointTensors } from '../src/models/save.js';
import { writeSafetensors, type TensorToWrite } from '../src/formats/safetensors.js';
import { backward, noGrad } from '../src/tensor/autograd.js';
import { selectParams } from '../src/train/trainer.js';
import { trainingLoss, type ExitLoss } from '../src/train/losses.js';
import { IGNORE_INDEX } from '../src/tensor/ops/index.js';
import { transpose2d } from '../src/tensor/transpose.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    ids: { type: 'string' },
    batch: { type: 'string', default: '1' },
    teacher: { type: 'string', default: 'none' },
    'distill-weight': { type: 'string', default: '0.5' },
    temperature: { type: 'string', default: '1' },
    'exit-loss': { type: 'string', default: 'none' },
    'exit-weight': { type: 'string', default: '0.1' },
  },
});
const [modelPath, outPath] = positionals;
if (!modelPath || !outPath || !values.ids) throw new Error('usage: torch-reference.ts MODEL OUT.safetensors --ids 1,2,3 [--batch B] [--teacher DIR|none] ...');

const ids = Int32Array.from(values.ids.split(',').map(Number));
const B = Number(values.batch);
const T = ids.length / B;
if (!Number.isInteger(T)) throw new Error(`${ids.length} ids do not split into ${B} sequences`);
const targets = new Int32Array(ids.length);
for (let b = 0; b < B; b++)
  for (let t = 0; t < T; t++) targets[b * T + t] = t + 1 < T ? ids[b * T + t + 1] : IGNORE_INDEX;

const model = loadModel(modelPath);
const exitLoss = values['exit-loss'] as ExitLoss;
const teacher = values.teacher === 'none' ? null : loadModel(values.teacher!);
const params = selectParams(model, 'all', false);
// every loop's exit of a cycle model, so that the exit logits are compared whatever the loss
const cycle = model.config.recursive?.plan.strategy.endsWith('cycle') ?? false;
const out = model.decoder.forward(ids, B, T, { allExits: cycle });
const teacherLogits = teacher ? noGrad(() => teacher.decoder.forward(ids, B, T).logits.f32) : null;
const parts = trainingLoss(out, targets, {
  teacherLogits,
  distillWeight: Number(values['distill-weight']),
  temperature: Number(values.temperature),
  exitLoss,
  exitWeight: Number(values['exit-weight']),
});
backward(parts.loss);

const V = model.config.vocabSize;
const tensors: TensorToWrite[] = [{ name: 'logits', dtype: 'f32', shape: [B, T, V], data: out.logits.f32 }];
out.exits.forEach((e, b) => tensors.push({ name: `exit.${b}`, dtype: 'f32', shape: [B, T, V], data: e.f32 }));
const seen = new Set(params.map((p) => p.tensor));
for (const it of checkpointTensors(model.config, model.decoder.weights)) {
  const g = it.tensor.grad;
  if (!seen.has(it.tensor) || !g) throw new Error(`no gradient for ${it.name}`);
  const [rows, cols] = it.tensor.shape;
  tensors.push(
    it.transpose
      ? { name: `grad.${it.name}`, dtype: 'f32', shape: [cols, rows], data: transpose2d(g, rows, cols) }
      : { name: `grad.${it.name}`, dtype: 'f32', shape: [...it.tensor.shape], data: g },
  );
}
writeSafetensors(outPath, tensors);
process.stdout.write(JSON.stringify({ loss: parts.loss.f32[0], ce: parts.ce, kd: parts.kd, exitCe: parts.exitCe }) + '\n');
