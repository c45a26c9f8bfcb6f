// Atomic directory output: everything is written into a temporary sibling directory,
// which is renamed into place only when complete, so an interrupted run never leaves
// a directory that loads as a valid model.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { InputError } from '../errors.js';

export class OutputDir {
  readonly tmp: string;
  private done = false;

  constructor(readonly path: string, force = false) {
    if (existsSync(path) && !force) throw new InputError('exists', `${path} already exists; pass --force to replace it`);
    this.tmp = `${path.replace(/\/+$/, '')}.tmp-${process.pid}`;
    rmSync(this.tmp, { recursive: true, force: true });
    mkdirSync(this.tmp, { recursive: true });
  }

  /** Moves the finished directory into place (replacing an existing one only now). */
  commit(): void {
    if (existsSync(this.path)) rmSync(this.path, { recursive: true, force: true });
    renameSync(this.tmp, this.path);
    this.done = true;
  }

  /** Removes the temporary directory; the destination is untouched. */
  abort(): void {
    if (!this.done) rmSync(this.tmp, { recursive: true, force: true });
  }
}
