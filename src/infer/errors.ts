// Engine errors that callers (the server) map to their own answers: a full queue is
// back-pressure (HTTP 503 / 429), not a bad request.
import { RrtError } from '../errors.js';

export class EngineBusyError extends RrtError {
  constructor(readonly queueDepth: number, readonly maxQueue: number) {
    super('engine_busy', `the engine's queue is full (${queueDepth} of ${maxQueue} requests waiting); retry later`);
  }
}
