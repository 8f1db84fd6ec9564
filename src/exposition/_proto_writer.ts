/**
 * A small writer of the protobuf wire format (what the Prometheus protobuf
 * exposition needs, no more): varints, zigzag integers, doubles, strings and
 * nested messages, each nested message's length written once it is known.
 */

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const ENCODER = new TextEncoder();

/** Writes protobuf fields into one growing buffer. */
export class ProtoWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #at = 0;
  // Where each message being written began (its content, after the tag).
  readonly #open: number[] = [];

  /**
   * @param size The bytes to start with (about what the last exposition took).
   */
  constructor(size = 16_384) {
    this.#bytes = new Uint8Array(Math.max(1024, size));
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** How many bytes are written. */
  get length(): number {
    return this.#at;
  }

  /**
   * A varint field.
   *
   * @param field The field number.
   * @param value A whole number, 0 to 2^53.
   */
  uint(field: number, value: number): void {
    this.#varint((field << 3) | VARINT);
    this.#varint(value);
  }

  /**
   * An `int64` field (two's complement: a negative number takes 10 bytes).
   *
   * @param field The field number.
   * @param value A whole number, -2^53 to 2^53.
   */
  int64(field: number, value: number): void {
    if (value >= 0) return this.uint(field, value);
    this.#varint((field << 3) | VARINT);
    // 2^64 + value, in 7-bit groups: the low bits of the number, then ones.
    let low = BigInt.asUintN(64, BigInt(value));
    this.#room(10);
    while (low >= 0x80n) {
      this.#bytes[this.#at++] = Number(low & 0x7fn) | 0x80;
      low >>= 7n;
    }
    this.#bytes[this.#at++] = Number(low);
  }

  /**
   * A `sint32`/`sint64` field (zigzag: small negative numbers stay short).
   *
   * @param field The field number.
   * @param value A whole number, -2^52 to 2^52.
   */
  sint(field: number, value: number): void {
    this.#varint((field << 3) | VARINT);
    this.#varint(value < 0 ? -2 * value - 1 : 2 * value);
  }

  /**
   * A `double` field.
   *
   * @param field The field number.
   * @param value The number.
   */
  double(field: number, value: number): void {
    this.#varint((field << 3) | FIXED64);
    this.#room(8);
    this.#view.setFloat64(this.#at, value, true);
    this.#at += 8;
  }

  /**
   * A `string` field, in UTF-8.
   *
   * @param field The field number.
   * @param value The string.
   */
  string(field: number, value: string): void {
    this.#varint((field << 3) | LENGTH_DELIMITED);
    this.#room(10 + value.length * 3);
    // Most names and label values are short and ASCII: their characters are their bytes.
    const length = value.length;
    if (length < 0x80) {
      const bytes = this.#bytes;
      let at = this.#at + 1;
      let i = 0;
      for (; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        bytes[at++] = code;
      }
      if (i === length) {
        bytes[this.#at] = length;
        this.#at = at;
        return;
      }
    }
    // The length goes before the bytes: reserve its largest size, then move the bytes if smaller.
    const start = this.#at;
    const written = ENCODER.encodeInto(value, this.#bytes.subarray(start + 5)).written;
    this.#at = start;
    this.#varint(written);
    this.#bytes.copyWithin(this.#at, start + 5, start + 5 + written);
    this.#at += written;
  }

  /**
   * Starts a nested message field; {@linkcode ProtoWriter.end} ends it.
   *
   * @param field The field number, or `undefined` for a message of a
   * length-delimited stream (its length, with no tag).
   */
  begin(field?: number): void {
    if (field !== undefined) this.#varint((field << 3) | LENGTH_DELIMITED);
    this.#open.push(this.#at);
  }

  /** Ends the message begun last: writes its length before it. */
  end(): void {
    const start = this.#open.pop()!;
    const length = this.#at - start;
    const size = varintSize(length);
    this.#room(size);
    this.#bytes.copyWithin(start + size, start, this.#at);
    this.#at = start;
    this.#varint(length);
    this.#at = start + size + length;
  }

  /**
   * Forgets what was written from `mark` on (a message that could not be
   * written whole).
   *
   * @param mark A {@linkcode ProtoWriter.length} read before.
   */
  truncate(mark: number): void {
    this.#at = mark;
    while (this.#open.length > 0 && this.#open.at(-1)! >= mark) this.#open.pop();
  }

  /** The bytes written, as a copy the writer no longer touches. */
  finish(): Uint8Array<ArrayBuffer> {
    return this.#bytes.slice(0, this.#at);
  }

  #varint(value: number): void {
    // Never a loop without end: a caller checks its numbers first.
    if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(`No varint for ${value}`);
    }
    this.#room(10);
    const bytes = this.#bytes;
    let at = this.#at;
    while (value >= 0x80) {
      bytes[at++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    bytes[at++] = value;
    this.#at = at;
  }

  #room(bytes: number): void {
    if (this.#at + bytes <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#at + bytes));
    grown.set(this.#bytes.subarray(0, this.#at));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }
}

/** How many bytes the varint of `value` takes. */
function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}
