/**
 * The mirror of a metric's hash, which scrapes read instead of the hash:
 * every number of the hash also as a little-endian double at a slot of one
 * string, so that a scrape reads one string (no field to parse: 10k series
 * read in under a millisecond) and which field holds which slot only when
 * that changed. The flush script keeps the mirror with the hash (the hash
 * stays the truth: restores, removals and other tools read it); a read that
 * finds the two apart (data written by an older pytheus, a key evicted)
 * makes the mirror again from the hash when it is small, else reads the
 * hash itself, page by page.
 *
 * A hash of more than `WHOLE_FIELDS` fields has no mirror (its slots would
 * not come in one reply): it is read page by page, as before.
 *
 * Keys, in the metric's hash slot: `<hash>:~slots` (field to slot, with
 * `#n`, the next new slot, and `#v`, the version of the slots, bumped at
 * each change of which field holds which), `<hash>:~values` (the doubles),
 * `<hash>:~free` (freed slots, taken again first).
 */

import { markStoreView } from "./_store_views.ts";

/**
 * A hash of at most this many fields (at its last read) is read whole, in
 * one reply that parses in a few milliseconds, and has a mirror; a bigger
 * one is read page by page, `PAGE_FIELDS` fields a page.
 */
export const WHOLE_FIELDS = 10_000;

/** The mirror's keys of a hash: its slots, its values, its free slots. */
export function mirrorKeys(hash: string): [slots: string, values: string, free: string] {
  return [`${hash}:~slots`, `${hash}:~values`, `${hash}:~free`];
}

/**
 * The Lua functions that keep the mirror, for a script that names its keys
 * (see {@linkcode mirrorKeys}) `SLOTS`, `VALUES` and `FREE` first, and
 * says in `MIRRORED` whether the hash has a mirror: `mirror(field, value)`
 * after a field was written, `unmirror(field)` after it was deleted. A
 * version starts from the time, so that slots made again after the mirror
 * was lost never repeat a version a reader knows.
 */
export const MIRROR_LUA = `
local function newVersion()
  if redis.call('HEXISTS', SLOTS, '#v') == 0 then
    local t = redis.call('TIME')
    redis.call('HSET', SLOTS, '#v', t[1] .. string.format('%06d', t[2]))
  end
  redis.call('HINCRBY', SLOTS, '#v', 1)
end
local function mirror(field, value)
  if not MIRRORED then return end
  local slot = redis.call('HGET', SLOTS, field)
  if not slot then
    slot = redis.call('LPOP', FREE) or (redis.call('HINCRBY', SLOTS, '#n', 1) - 1)
    redis.call('HSET', SLOTS, field, slot)
    newVersion()
  end
  redis.call('SETRANGE', VALUES, 8 * tonumber(slot), struct.pack('<d', tonumber(value) or (0 / 0)))
end
local function unmirror(field)
  if not MIRRORED then return end
  local slot = redis.call('HGET', SLOTS, field)
  if slot then
    redis.call('HDEL', SLOTS, field)
    redis.call('RPUSH', FREE, slot)
    newVersion()
  end
end
`;

/**
 * A scrape's read of one hash through its mirror. KEYS: the hash, then
 * {@linkcode mirrorKeys}; ARGV[1] the version of the slots the reader
 * knows. Answers
 * `{1, version, values}` when the slots did not change, `{2, version,
 * values, slots}` when they did, `{3}` when the hash has too many fields
 * for a mirror (the reader reads it page by page). A mirror apart from its
 * hash (its fields not the hash's, its values shorter than its slots) is
 * made again from the hash.
 */
export const READ_SCRIPT = `
local SLOTS, VALUES, FREE, MIRRORED = KEYS[2], KEYS[3], KEYS[4], true
${MIRROR_LUA}
local fields = redis.call('HLEN', KEYS[1])
if fields > ${WHOLE_FIELDS} then return {3} end
local version = redis.call('HGET', SLOTS, '#v')
local meta = version and 2 or 0
local size = tonumber(redis.call('HGET', SLOTS, '#n') or '0')
if redis.call('HLEN', SLOTS) - meta ~= fields or redis.call('STRLEN', VALUES) < 8 * size then
  redis.call('DEL', SLOTS, VALUES, FREE)
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do mirror(all[i], all[i + 1]) end
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then
    for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
  version = redis.call('HGET', SLOTS, '#v')
end
version = version or '0'
local values = redis.call('GET', VALUES) or ''
if version == ARGV[1] then return {1, version, values} end
return {2, version, values, redis.call('HGETALL', SLOTS)}
`;

/** What a reader knows of a hash's slots: their version, and the slot of each field. */
export interface Slots {
  readonly version: string;
  readonly index: ReadonlyMap<string, number>;
  /** The fields the last scrape asked for, in its order, with their slots (see SlotValues). */
  readonly trail: Trail;
}

/** Fields asked for, in order, with their slots (-1: none). */
interface Trail {
  readonly fields: string[];
  readonly slots: number[];
}

const TEXT = new TextDecoder();

/**
 * The numbers of a hash from the answer of {@linkcode READ_SCRIPT} (called
 * for bytes: the values are doubles).
 *
 * @param reply The script's answer.
 * @param known The slots the read named (their version).
 * @returns The slots, and the numbers by field; `undefined` when the hash is
 * to be read page by page.
 * @throws {TypeError} When the answer is not one the script gives.
 */
export function mirrorRead(
  reply: unknown,
  known: Slots | undefined,
): { slots: Slots; values: ReadonlyMap<string, number> } | undefined {
  const [code, version, bytes, flat] = Array.isArray(reply) ? reply : [];
  if (code === 3) return undefined;
  if (!(version instanceof Uint8Array) || !(bytes instanceof Uint8Array)) {
    throw new TypeError(`the mirror read answered ${typeof reply}`);
  }
  let slots = known;
  if (code === 2 && Array.isArray(flat)) {
    const index = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = TEXT.decode(flat[i] as Uint8Array);
      if (field !== "#n" && field !== "#v") {
        index.set(field, Number(TEXT.decode(flat[i + 1] as Uint8Array)));
      }
    }
    slots = { version: TEXT.decode(version), index, trail: { fields: [], slots: [] } };
  } else if (code !== 1 || slots === undefined) {
    throw new TypeError(`the mirror read answered code ${code}`);
  }
  return { slots, values: markStoreView(new SlotValues(slots, doublesOf(bytes))) };
}

/**
 * The numbers of a hash by field, as a view of its slots and their values
 * (no map made per scrape). The script sends values for every slot. A
 * scrape asks for the fields in the order the last one did, so `get()`
 * first checks the field the trail holds at that turn, and only looks up
 * the index when it differs (the lookups were a third of a 10k-series
 * scrape on Deno).
 */
class SlotValues implements ReadonlyMap<string, number> {
  readonly #index: ReadonlyMap<string, number>;
  readonly #trail: Trail;
  readonly #doubles: Float64Array;
  // How many fields get() was asked for.
  #turn = 0;
  // Made only when iterated (the core reads by key): once.
  #entries: Map<string, number> | undefined;

  constructor(slots: Slots, doubles: Float64Array) {
    this.#index = slots.index;
    this.#trail = slots.trail;
    this.#doubles = doubles;
  }

  get size(): number {
    return this.#index.size;
  }

  get(field: string): number | undefined {
    const turn = this.#turn++;
    const { fields, slots } = this.#trail;
    let slot: number;
    if (fields[turn] === field) slot = slots[turn]!;
    else {
      slot = this.#index.get(field) ?? -1;
      fields[turn] = field;
      slots[turn] = slot;
    }
    return slot < 0 ? undefined : this.#doubles[slot];
  }

  has(field: string): boolean {
    return this.#index.has(field);
  }

  keys(): MapIterator<string> {
    return this.#index.keys();
  }

  entries(): MapIterator<[string, number]> {
    return this.#map().entries();
  }

  values(): MapIterator<number> {
    return this.#map().values();
  }

  forEach(
    callback: (value: number, field: string, map: ReadonlyMap<string, number>) => void,
    thisArg?: unknown,
  ): void {
    for (const [field, value] of this.#map()) callback.call(thisArg, value, field, this);
  }

  #map(): Map<string, number> {
    if (this.#entries === undefined) {
      this.#entries = new Map();
      for (const [field, slot] of this.#index) this.#entries.set(field, this.#doubles[slot]!);
    }
    return this.#entries;
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian doubles, copied into an array of this platform's doubles. */
function doublesOf(bytes: Uint8Array): Float64Array {
  const doubles = new Float64Array(bytes.byteLength >> 3);
  const copy = new Uint8Array(doubles.buffer);
  copy.set(bytes.subarray(0, copy.length));
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < copy.length; i += 8) {
      copy.subarray(i, i + 8).reverse();
    }
  }
  return doubles;
}
