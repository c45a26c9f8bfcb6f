// Engine errors that callers (the server) map to their own answers: a full queue is
// back-pressure (HTTP 503 / 429), not a bad request.
import { RrtError } from '../errors.js';

export class EngineBusyError extends RrtError {
  constructor(readonly queueDepth: number, readonly maxQueue: number) {
    super('engine_busy', `the engine's queue is full (${queueDepth} of ${maxQueue} requests waiting); retry later`);
  }
}

/**
 * The queue limit of both engines: throws EngineBusyError when a request submitted behind
 * `queued` others would wait while `maxQueue` already do. Requests the free slots take at the
 * next step do not wait, so they never count.
 */
export function checkQueueRoom(queued: number, freeSlots: number, maxQueue: number): void {
  if (queued < freeSlots) return;
  const waiting = queued - freeSlots;
  if (waiting >= maxQueue) throw new EngineBusyError(waiting, maxQueue);
}
