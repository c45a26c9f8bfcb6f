// Typed errors: a code, the facts, and a message that says what
// was found, what was expected and what to do. Library code throws these; only
// the CLI turns them into exit codes, and only the server into HTTP statuses.

export class RrtError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

export type FormatErrorCode =
  | 'not_found'
  | 'truncated'
  | 'bad_magic'
  | 'bad_version'
  | 'bad_header'
  | 'offset_out_of_range'
  | 'overlapping_tensors'
  | 'unknown_dtype'
  | 'shape_size_mismatch'
  | 'missing_tensor';

/** A file that cannot be read as the format it claims to be. */
export class FormatError extends RrtError {
  declare readonly code: FormatErrorCode;
  readonly file?: string;
  readonly tensor?: string;
  constructor(code: FormatErrorCode, message: string, facts: { file?: string; tensor?: string } = {}) {
    super(code, facts.file ? `${facts.file}: ${message}` : message);
    this.file = facts.file;
    this.tensor = facts.tensor;
  }
}

/** A model config that is missing fields or describes something rrt does not support. */
export class ConfigError extends RrtError {
  readonly field?: string;
  constructor(code: 'missing_field' | 'bad_value' | 'unknown_architecture' | 'unsupported', message: string, field?: string) {
    super(code, message);
    this.field = field;
  }
}

/** Tensor shapes that do not fit an op. */
export class ShapeError extends RrtError {
  constructor(message: string) {
    super('shape', message);
  }
}

/** User input that cannot be processed: token ids out of range, a prompt longer than the context, bad options. */
export class InputError extends RrtError {
  constructor(code: 'token_out_of_range' | 'context_overflow' | 'bad_option' | 'unsupported' | 'not_found' | 'exists', message: string) {
    super(code, message);
  }
}
