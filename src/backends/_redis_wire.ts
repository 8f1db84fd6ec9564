/**
 * What goes over the wire to Redis: the flush script, the keys of a metric,
 * numbers as Redis spells them, and waiting on a connection with a deadline.
 */

import { MIRROR_LUA, WHOLE_FIELDS } from "./_redis_mirror.ts";

// Applies one chunk of one metric's changes, exactly once and in order: a
// chunk whose number is not above the last one applied for this process was
// applied already (its answer was lost) and is skipped; one past the next
// is refused, so that the batch is sent again whole. Errors of single
// changes (a set value that is not a number) are counted, not fatal.
// KEYS[1] is the number of
// this process' last chunk applied to the metric (numbered 1, 2, ... per
// metric; any number is taken when it is missing, after it expired or Redis
// lost it), KEYS[2] its hash, KEYS[3] the generation of its data (made as
// ARGV[3] when missing: by the first write, and again after the data was
// lost), KEYS[4] to KEYS[6] the hash's mirror (see _redis_mirror.ts), kept
// with it; all in one hash slot, so that a Redis Cluster runs it too.
export const FLUSH_SCRIPT = `
local SLOTS, VALUES, FREE = KEYS[4], KEYS[5], KEYS[6]
-- A hash too big for a mirror has none (see _redis_mirror.ts).
local MIRRORED = redis.call('HLEN', KEYS[2]) <= ${WHOLE_FIELDS}
if not MIRRORED then redis.call('DEL', SLOTS, VALUES, FREE) end
${MIRROR_LUA}
-- Deletes every field starting with prefix: a native histogram's, whatever wrote them.
local function deletePrefix(prefix)
  local cursor, n = '0', #prefix
  repeat
    local page = redis.call('HSCAN', KEYS[2], cursor, 'COUNT', 1000)
    cursor = page[1]
    for j = 1, #page[2], 2 do
      local name = page[2][j]
      if string.sub(name, 1, n) == prefix then
        redis.call('HDEL', KEYS[2], name)
        unmirror(name)
      end
    end
  until cursor == '0'
end
local generation = redis.call('GET', KEYS[3])
if not generation then
  generation = ARGV[3]
  redis.call('SET', KEYS[3], generation, 'EX', ARGV[2])
end
local last = tonumber(redis.call('GET', KEYS[1]))
local number = tonumber(ARGV[1])
if last and number <= last then return {0, 0, generation} end
-- A chunk of this batch before this one (numbers ARGV[4] on) did not land:
-- the batch is sent again, in order. (A Redis gone back to older data, whose
-- number is below the batch's, is written on.)
if last and number > last + 1 and tonumber(ARGV[4]) <= last + 1 then
  return redis.error_reply('chunk ' .. (last + 1) .. ' missing')
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local refused = 0
for i = 5, #ARGV, 3 do
  local op, field = ARGV[i], ARGV[i + 1]
  local reply
  if op == 'i' then
    reply = redis.pcall('HINCRBYFLOAT', KEYS[2], field, ARGV[i + 2])
    if type(reply) == 'string' then mirror(field, reply) end
  elseif op == 's' then
    reply = redis.pcall('HSET', KEYS[2], field, ARGV[i + 2])
    if type(reply) == 'number' then mirror(field, ARGV[i + 2]) end
  elseif op == 'n' then
    reply = redis.pcall('HSETNX', KEYS[2], field, ARGV[i + 2])
    if reply == 1 then mirror(field, ARGV[i + 2]) end
  elseif op == 'd' then
    reply = redis.pcall('HDEL', KEYS[2], field)
    unmirror(field)
  elseif op == 'x' then
    deletePrefix(field)
    reply = 0
  elseif op == 'c' then
    -- An idle series: deleted only if no field changed since the scrape that found it idle.
    local idle = cjson.decode(ARGV[i + 2])
    local same = true
    for j = 1, #idle.fields, 2 do
      local now, read = redis.call('HGET', KEYS[2], idle.fields[j]), idle.fields[j + 1]
      if read == cjson.null then
        same = not now
      elseif now and now ~= read and tonumber(now) ~= tonumber(read) then
        same = false
      end
      if not same then break end
    end
    if same then
      for j = 1, #idle.fields, 2 do
        if redis.call('HDEL', KEYS[2], idle.fields[j]) == 1 then unmirror(idle.fields[j]) end
      end
      if idle.prefix ~= nil and idle.prefix ~= cjson.null then deletePrefix(idle.prefix) end
    end
    reply = 0
  else reply = redis.pcall('DEL', KEYS[2], SLOTS, VALUES, FREE) end
  if type(reply) == 'table' and reply.err then refused = refused + 1 end
end
for _, key in ipairs({KEYS[2], SLOTS, VALUES, FREE}) do redis.call('EXPIRE', key, ARGV[2]) end
-- Expires with the data it stands for: a metric idle past the expiry leaves no key behind.
redis.call('EXPIRE', KEYS[3], ARGV[2])
return {1, refused, generation}
`;

/**
 * A metric's hash, `<keyPrefix>:{<metric>}` (a hash tag: the metric's keys
 * share a slot of a Redis Cluster).
 */
export function hashOf(keyPrefix: string, metric: string): string {
  return `${keyPrefix}:{${metric}}`;
}

/** The key of the generation of a metric's data, in the metric's slot. */
export function generationKey(hash: string): string {
  return `${hash}:~generation`;
}

/** A number as Redis reads it back (`-0`, `inf`, `-inf`, `nan` included). */
export function formatNumber(value: number): string {
  // String(-0) is "0": a gauge set to -0 must read -0 back.
  if (value === 0) return 1 / value < 0 ? "-0" : "0";
  if (Number.isFinite(value)) return String(value);
  return value > 0 ? "inf" : value < 0 ? "-inf" : "nan";
}

/** A number as Redis wrote it (`HINCRBYFLOAT` may answer `inf`). */
export function parseNumber(text: string): number {
  const value = Number(text);
  if (value === value) return value;
  switch (text.toLowerCase()) {
    case "inf":
    case "+inf":
      return Infinity;
    case "-inf":
      return -Infinity;
    default:
      return NaN;
  }
}

/** `promise`, or `error()` once `ms` passed. */
export function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** What {@linkcode waitReady} needs of an ioredis connection (one Redis, or a Cluster). */
interface Connection {
  readonly status: string;
  on(event: "ready", listener: () => void): unknown;
  off(event: "ready", listener: () => void): unknown;
}

/** Resolves once the connection is ready, or after `ms` at most. */
export function waitReady(client: Connection, ms: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off("ready", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    client.on("ready", done);
  });
}
