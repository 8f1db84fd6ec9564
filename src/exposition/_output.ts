/**
 * Where an exposition is written, piece by piece. Read as a string, it is the
 * pieces joined by `+=`: a rope, which whoever reads it flattens once. Read as
 * bytes, every 16 KiB of text is encoded to UTF-8 as soon as it is written,
 * while its pieces are still in cache, instead of one long pass through
 * scattered memory at the end.
 */

const CHUNK = 16_384;
const ENCODER = new TextEncoder();

/** Where an {@linkcode Output} stood: the bytes encoded, and the text not yet. */
export interface OutputMark {
  readonly length: number;
  readonly chunk: string;
}

/** Text written in pieces, read at the end as one string or as its UTF-8 bytes. */
export class Output {
  #chunk = "";
  // Bytes output: the encoded chunks, and how many bytes of it are used.
  #bytes: Uint8Array<ArrayBuffer> | undefined;
  #length = 0;

  /**
   * Creates an empty output.
   *
   * @param bytes Whether it is read as UTF-8 bytes (each full chunk is
   * encoded at once) rather than as a string.
   * @param expected How many bytes are expected (the last scrape's): room for
   * them and an eighth more is made at once, where growing by doubling would
   * copy everything written so far at each step.
   */
  constructor(bytes: boolean, expected = 0) {
    if (bytes) this.#bytes = new Uint8Array(Math.ceil(expected * 1.125) + 4 * CHUNK);
  }

  /**
   * Appends text.
   *
   * @param text The text.
   */
  write(text: string): void {
    this.#chunk += text;
    if (this.#bytes !== undefined && this.#chunk.length >= CHUNK) this.#flush(text);
  }

  /**
   * Where the output stands now, for {@linkcode Output.rollback}.
   *
   * @returns The mark.
   */
  mark(): OutputMark {
    return { length: this.#length, chunk: this.#chunk };
  }

  /**
   * Forgets everything written since `mark` was taken (a family whose
   * samples could not all be written).
   *
   * @param mark What {@linkcode Output.mark} returned.
   */
  rollback(mark: OutputMark): void {
    if (mark.length === this.#length) {
      // Nothing encoded since: the text then is a prefix of the text now.
      this.#chunk = this.#chunk.slice(0, mark.chunk.length);
      return;
    }
    // The text then was encoded since, after the bytes then: it is pending again.
    this.#length = mark.length;
    this.#chunk = mark.chunk;
  }

  /**
   * Everything written, as a string.
   *
   * @returns The text.
   */
  text(): string {
    return this.#chunk;
  }

  /**
   * Everything written, as UTF-8 (for an output made with `bytes` set).
   *
   * @returns The bytes.
   */
  bytes(): Uint8Array<ArrayBuffer> {
    this.#flush("");
    return this.#bytes!.subarray(0, this.#length);
  }

  /**
   * Encodes the text written since the last flush (bytes output only). Before
   * the end, a high surrogate ending the text waits for its other half.
   *
   * @param lastWrite The text written last, `""` at the end. Its last
   * character is the text's: read there, as reading it from the text would
   * make JavaScriptCore flatten the text once more than encoding it does.
   */
  #flush(lastWrite: string): void {
    let chunk = this.#chunk;
    this.#chunk = "";
    const last = lastWrite.charCodeAt(lastWrite.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.#chunk = chunk.slice(-1);
      chunk = chunk.slice(0, -1);
    }
    let bytes = this.#bytes!;
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const needed = this.#length + 3 * chunk.length;
    if (needed > bytes.length) {
      bytes = new Uint8Array(Math.max(needed, 2 * bytes.length));
      bytes.set(this.#bytes!.subarray(0, this.#length));
      this.#bytes = bytes;
    }
    this.#length += ENCODER.encodeInto(chunk, bytes.subarray(this.#length)).written;
  }
}
