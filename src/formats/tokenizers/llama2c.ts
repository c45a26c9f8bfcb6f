// llama2.c tokenizer.bin (karpathy/llama2.c tokenizer.py export, read by run.c build_tokenizer):
// int32 max_token_length, then until end of file, per token: float32 score, int32 byte length,
// the piece's bytes (spaces as ' ', not '▁'). The format stores no types, so they follow llama2.c's
// conventions: id 0 <unk>, 1 BOS, 2 EOS (stored as "\n<s>\n"/"\n</s>\n"), <0xXX> pieces are bytes.

import { FormatError } from '../../errors.js';
import { PieceType, SentencePieceBpe } from './sentencepiece-bpe.js';

const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;

export function parseLlama2cTokenizer(bytes: Uint8Array, file: string): SentencePieceBpe {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) throw new FormatError('truncated', `tokenizer.bin has ${bytes.byteLength} bytes, less than its 4-byte header`, { file });
  const maxLen = view.getInt32(0, true);
  if (maxLen <= 0) throw new FormatError('bad_header', `max_token_length is ${maxLen}, expected a positive int32 (is this a llama2.c tokenizer.bin?)`, { file });
  const decoder = new TextDecoder('utf-8');
  const pieces: string[] = [];
  const scores: number[] = [];
  let off = 4;
  while (off < bytes.byteLength) {
    const id = pieces.length;
    if (off + 8 > bytes.byteLength) {
      throw new FormatError('truncated', `token ${id} at offset ${off}: ${bytes.byteLength - off} bytes left, need 8 for score and length`, { file });
    }
    const score = view.getFloat32(off, true);
    const len = view.getInt32(off + 4, true);
    if (len < 0 || len > maxLen) {
      throw new FormatError('bad_header', `token ${id} at offset ${off} has length ${len}, outside [0, max_token_length ${maxLen}]`, { file });
    }
    off += 8;
    if (off + len > bytes.byteLength) {
      throw new FormatError('truncated', `token ${id} at offset ${off} needs ${len} bytes, ${bytes.byteLength - off} left`, { file });
    }
    pieces.push(decoder.decode(bytes.subarray(off, off + len)));
    scores.push(score);
    off += len;
  }
  if (pieces.length < 3) throw new FormatError('bad_header', `only ${pieces.length} tokens; llama2.c needs at least <unk>, BOS and EOS`, { file });
  const types = pieces.map((p, id) =>
    id === 0 ? PieceType.unknown : id <= 2 ? PieceType.control : BYTE_PIECE.test(p) ? PieceType.byte : PieceType.normal,
  );
  // BOS/EOS carry newlines only for llama2.c's printing; their literal text is "<s>"/"</s>".
  pieces[1] = pieces[1].trim();
  pieces[2] = pieces[2].trim();
  return new SentencePieceBpe({ pieces, scores, types, bosId: 1, eosId: 2, addBos: true, addEos: false, addSpacePrefix: true });
}
