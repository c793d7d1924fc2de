// The output of a running task as the primary shows it: the tail of each stream, bounded as the
// node bounds it (MAX_OUTPUT_BYTES), so a chatty command costs the primary a fixed amount.

import { MAX_OUTPUT_BYTES } from '../protocol/tasks.js';

export class TaskOutputTail {
  #stdout = '';
  #stderr = '';
  #truncated = false;

  add(stream: 'stdout' | 'stderr', data: string): void {
    let text = (stream === 'stdout' ? this.#stdout : this.#stderr) + data;
    if (Buffer.byteLength(text) > MAX_OUTPUT_BYTES) {
      // Characters, then bytes: a multi-byte character may take up to 4.
      text = text.slice(-MAX_OUTPUT_BYTES);
      while (Buffer.byteLength(text) > MAX_OUTPUT_BYTES)
        text = text.slice(Math.ceil((Buffer.byteLength(text) - MAX_OUTPUT_BYTES) / 4) || 1);
      this.#truncated = true;
    }
    if (stream === 'stdout') this.#stdout = text;
    else this.#stderr = text;
  }

  snapshot(): { stdout: string; stderr: string; truncated: boolean } {
    return { stdout: this.#stdout, stderr: this.#stderr, truncated: this.#truncated };
  }
}
