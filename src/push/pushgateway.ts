/**
 * Pushing a registry's metrics to a Prometheus Pushgateway (for batch jobs
 * that end before a scrape could reach them), and deleting them again.
 *
 * @module
 */

import { InvalidOptionError, LabelValidationError, PytheusError } from "../errors.ts";
import { generateMetrics, PROMETHEUS_CONTENT_TYPE } from "../exposition/exposition.ts";
import type { Registry } from "../registry/registry.ts";
import { millisecondsOption, registryOption } from "../_entry_options.ts";
import {
  checkLabelValue,
  checkOptions,
  describeName,
  describeValue,
  isLabelName,
} from "../_validation.ts";

/** Where in the Pushgateway a group of metrics lives, and how to reach it. */
export interface GatewayGroupOptions {
  /** The `job` label of the group; any non-empty string. */
  job: string;
  /**
   * More labels identifying the group (`{ instance: "db-1" }`); values may
   * hold any character, `/`, `.`, `..` and empty values included. The name
   * `job` is not one of them: it is the `job` option.
   *
   * @default {{}}
   */
  groupingKey?: Readonly<Record<string, string>>;
  /**
   * Extra request headers, such as `Authorization`, as `new Headers()` takes
   * them; a header name or value it refuses is an {@linkcode InvalidOptionError}.
   *
   * @default {{}}
   */
  headers?: ConstructorParameters<typeof Headers>[0];
  /**
   * Gives up (with a {@linkcode PushgatewayError}) after this many
   * milliseconds: more than 0, at most 2147483647 (a timer's longest delay).
   *
   * @default {30000}
   */
  timeoutMs?: number;
}

/** Options of {@linkcode pushToGateway} and {@linkcode pushAddToGateway}. */
export interface PushOptions extends GatewayGroupOptions {
  /**
   * The registry whose metrics are pushed (not `null`).
   *
   * @default {REGISTRY}
   */
  registry?: Registry;
}

/**
 * The Pushgateway refused a request (any status other than 2xx), or could
 * not be reached.
 *
 * @example
 * ```ts ignore
 * import { PushgatewayError, pushToGateway } from "@pytheus/pytheus";
 * try {
 *   await pushToGateway("http://localhost:9091", { job: "backup" });
 * } catch (err) {
 *   if (err instanceof PushgatewayError) console.error(err.status, err.body);
 * }
 * ```
 */
export class PushgatewayError extends PytheusError {
  /** The HTTP status, `undefined` when no answer came (network error, timeout). */
  readonly status: number | undefined;
  /** The body of the answer, `""` when none came. */
  readonly body: string;

  /**
   * Creates the error.
   *
   * @param message What could not be done and why.
   * @param status The HTTP status, if an answer came.
   * @param body The body of the answer.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, status: number | undefined, body: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
    this.body = body;
  }
}

/**
 * Replaces every metric of the group (`job` plus `groupingKey`) with the
 * registry's metrics (HTTP `PUT`).
 *
 * Every mistake in the arguments rejects the promise before the registry is
 * read or a request is sent: an address that is not an `http:` or `https:`
 * URL, an unknown option (prom-client's `jobName`, `groupings`), a header
 * `new Headers()` refuses, a `timeoutMs` out of range, a registry that is not
 * one, each an {@linkcode InvalidOptionError}; a bad `job` or grouping key a
 * {@linkcode LabelValidationError}.
 *
 * @param url The Pushgateway's address, such as `http://localhost:9091`
 *   (`http://` is assumed without a scheme; a path is kept as a prefix).
 * @param options The group, the registry and the request options.
 * @throws {PushgatewayError} When the Pushgateway answers other than 2xx or cannot be reached.
 * @throws {LabelValidationError} When `job` is empty or not a string, or a
 *   grouping label name is invalid or is `job`, or a value is not a string
 *   or holds a lone surrogate.
 * @throws {InvalidOptionError} When `url` is not an `http:` or `https:` URL,
 *   `options` is not an object or has an unknown key, or `headers`,
 *   `timeoutMs` or `registry` is invalid.
 *
 * @example
 * ```ts ignore
 * import { CollectorRegistry, Gauge, pushToGateway } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * const done = new Gauge({ name: "backup_last_success_seconds", description: "Last backup.", registry });
 * done.setToCurrentTime();
 * await pushToGateway("http://localhost:9091", { job: "backup", groupingKey: { db: "main" }, registry });
 * ```
 */
export async function pushToGateway(url: string | URL, options: PushOptions): Promise<void> {
  await push("PUT", "pushToGateway()", url, options);
}

/**
 * Replaces only the metrics of the group that have the same names as the
 * registry's, keeping the others (HTTP `POST`). The arguments are checked as
 * {@linkcode pushToGateway} checks them.
 *
 * @param url The Pushgateway's address.
 * @param options The group, the registry and the request options.
 * @throws {PushgatewayError} When the Pushgateway answers other than 2xx or cannot be reached.
 * @throws {LabelValidationError} When `job` is empty or not a string, or a
 *   grouping label name is invalid or is `job`, or a value is not a string
 *   or holds a lone surrogate.
 * @throws {InvalidOptionError} When `url` is not an `http:` or `https:` URL,
 *   `options` is not an object or has an unknown key, or `headers`,
 *   `timeoutMs` or `registry` is invalid.
 *
 * @example
 * ```ts ignore
 * import { CollectorRegistry, Counter, pushAddToGateway } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * new Counter({ name: "rows_copied_total", description: "Rows copied.", registry }).inc(1000);
 * await pushAddToGateway("localhost:9091", { job: "copy", registry });
 * ```
 */
export async function pushAddToGateway(url: string | URL, options: PushOptions): Promise<void> {
  await push("POST", "pushAddToGateway()", url, options);
}

/**
 * Deletes every metric of the group (HTTP `DELETE`). The arguments are
 * checked as {@linkcode pushToGateway} checks them; it takes no `registry`.
 *
 * @param url The Pushgateway's address.
 * @param options The group and the request options.
 * @throws {PushgatewayError} When the Pushgateway answers other than 2xx or cannot be reached.
 * @throws {LabelValidationError} When `job` is empty or not a string, or a
 *   grouping label name is invalid or is `job`, or a value is not a string
 *   or holds a lone surrogate.
 * @throws {InvalidOptionError} When `url` is not an `http:` or `https:` URL,
 *   `options` is not an object or has an unknown key (`registry` included),
 *   or `headers` or `timeoutMs` is invalid.
 *
 * @example
 * ```ts ignore
 * import { deleteFromGateway } from "@pytheus/pytheus";
 * await deleteFromGateway("http://localhost:9091", { job: "backup", groupingKey: { db: "main" } });
 * ```
 */
export async function deleteFromGateway(
  url: string | URL,
  options: GatewayGroupOptions,
): Promise<void> {
  const request = prepare("DELETE", "deleteFromGateway()", url, options, GROUP_OPTIONS);
  await send(request, undefined);
}

const GROUP_OPTIONS = ["job", "groupingKey", "headers", "timeoutMs"] as const;
const PUSH_OPTIONS = [...GROUP_OPTIONS, "registry"] as const;

async function push(
  method: "PUT" | "POST",
  caller: string,
  url: string | URL,
  options: PushOptions,
): Promise<void> {
  const request = prepare(method, caller, url, options, PUSH_OPTIONS);
  const registry = registryOption(caller, options.registry);
  await send(request, await generateMetrics(registry));
}

/**
 * The URL of a group: `<url>/metrics/job/<job>{/<label>/<value>}`, each value
 * percent-encoded, or base64url-encoded (`<label>@base64/<value>`) when the
 * URL would read it otherwise: when it holds a `/`, is empty, or is `.` or
 * `..` (which a URL resolves as dot segments, reaching another group), as
 * the Pushgateway allows.
 *
 * @param url The Pushgateway's address (`http://` is assumed without a scheme).
 * @param job The `job` label.
 * @param groupingKey More labels; not `job`.
 * @returns The group's URL.
 * @throws {LabelValidationError} When `job` is empty or not a string, or a
 *   grouping label name is invalid or is `job`, or a value is not a string
 *   or holds a lone surrogate.
 * @throws {InvalidOptionError} When `url` is not an `http:` or `https:` URL.
 *
 * @example
 * ```ts
 * import { gatewayGroupUrl } from "./pushgateway.ts";
 * const url = gatewayGroupUrl("localhost:9091", "backup", { path: "/var/db", host: "a b", up: ".." });
 * console.assert(
 *   url.href === "http://localhost:9091/metrics/job/backup/path@base64/L3Zhci9kYg==/host/a%20b/up@base64/Li4=",
 * );
 * ```
 */
export function gatewayGroupUrl(
  url: string | URL,
  job: string,
  groupingKey: Readonly<Record<string, string>> = {},
): URL {
  if (typeof job !== "string" || job === "") {
    throw new LabelValidationError(
      `Cannot push to the Pushgateway: job must be a non-empty string, got ${describeValue(job)}`,
    );
  }
  checkLabelValue("the Pushgateway group", "job", job);
  if (groupingKey === null || typeof groupingKey !== "object" || Array.isArray(groupingKey)) {
    throw new LabelValidationError(
      `Cannot push to the Pushgateway: groupingKey must be a record of label values, got ${
        describeValue(groupingKey)
      }`,
    );
  }
  let path = "/metrics" + segment("job", job);
  for (const [name, value] of Object.entries(groupingKey)) {
    if (!isLabelName(name)) {
      throw new LabelValidationError(
        `Cannot push to the Pushgateway: ${describeName(name)} is not a valid grouping label name`,
      );
    }
    if (name === "job") {
      throw new LabelValidationError(
        `Cannot push to the Pushgateway: "job" cannot be a grouping label name (it would ` +
          `override the job ${describeValue(job)}): pass it as the job option`,
      );
    }
    path += segment(name, checkLabelValue("the Pushgateway group", name, value));
  }
  const base = gatewayBase(url);
  base.pathname = base.pathname.replace(/\/+$/, "") + path;
  base.search = "";
  base.hash = "";
  return base;
}

/** The Pushgateway's address as a URL of its own (it is changed), `http://` assumed. */
function gatewayBase(url: unknown): URL {
  if (typeof url !== "string" && !(url instanceof URL)) {
    throw new InvalidOptionError(
      `Cannot push to the Pushgateway: its address must be a string or a URL, got ${
        describeValue(url)
      }`,
    );
  }
  const text = typeof url === "string" ? url : url.href;
  let base: URL;
  try {
    base = new URL(text.includes("://") ? text : `http://${text}`);
  } catch (cause) {
    throw new InvalidOptionError(
      `Cannot push to the Pushgateway: its address ${
        describeName(redacted(text))
      } is not a valid URL`,
      { cause },
    );
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new InvalidOptionError(
      `Cannot push to the Pushgateway: its address ${
        describeName(redacted(text))
      } must be an http: or https: URL`,
    );
  }
  return base;
}

/**
 * An address as messages quote it: a password in it (which `fetch()` sends
 * as basic authentication) is shown as `***`.
 */
function redacted(address: string | URL): string {
  if (address instanceof URL) {
    if (address.password === "") return address.href;
    const shown = new URL(address);
    shown.password = "***";
    return shown.href;
  }
  return address.replace(/^([^/?#]*\/\/[^/?#@:]*):[^/?#@]*@/, "$1:***@");
}

/**
 * One `/<name>/<value>` of a group's path. A value the URL would not keep as
 * it is (a `/` splits it, `.` and `..` are dot segments; every other
 * character is percent-encoded) is base64url-encoded instead, as is an
 * empty one, which the Pushgateway could not read.
 */
function segment(name: string, value: string): string {
  if (value === "") return `/${name}@base64/=`;
  if (value.includes("/") || value === "." || value === "..") {
    return `/${name}@base64/${base64url(value)}`;
  }
  return `/${name}/${encodeURIComponent(value)}`;
}

function base64url(value: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(value)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_");
}

/** A request to the Pushgateway, its arguments checked. */
interface GatewayRequest {
  readonly method: "PUT" | "POST" | "DELETE";
  readonly target: URL;
  readonly headers: Headers;
  readonly timeoutMs: number;
}

/** Checks every argument of a call, before anything is read or sent. */
function prepare(
  method: GatewayRequest["method"],
  caller: string,
  url: string | URL,
  options: GatewayGroupOptions,
  known: readonly string[],
): GatewayRequest {
  checkOptions(caller, options, known);
  const target = gatewayGroupUrl(url, options.job, options.groupingKey ?? undefined);
  const headers = headersOption(caller, options.headers);
  const timeoutMs = millisecondsOption(caller, "timeoutMs", options.timeoutMs, 30_000);
  return { method, target, headers, timeoutMs };
}

/** An HTTP header name: a token (RFC 9110). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The `headers` option as `Headers`: a `Headers`, or a record or list of
 * `[name, value]` pairs of strings (a value of another type, such as an
 * `undefined` token, would be sent as its text). A refusal names the header,
 * never its value (which may be a secret such as a token), and is not
 * chained to the runtime's error (which may quote it).
 */
function headersOption(caller: string, given: unknown): Headers {
  if (given === undefined || given === null) return new Headers();
  if (given instanceof Headers) return new Headers(given);
  const refused = (why: string) => new InvalidOptionError(`${caller}: headers ${why}`);
  if (typeof given !== "object") {
    throw refused(
      `must be a record, a list of [name, value] pairs or a Headers, got ${describeValue(given)}`,
    );
  }
  let pairs: unknown[];
  if (Symbol.iterator in given) {
    pairs = Array.from(given as Iterable<unknown>);
  } else {
    const symbol = Object.getOwnPropertySymbols(given)[0];
    if (symbol !== undefined) {
      throw refused(`hold ${describeValue(symbol)}, which is not a header name`);
    }
    pairs = Object.entries(given);
  }
  const headers = new Headers();
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw refused(`must hold [name, value] pairs, got ${describeValue(pair)} among them`);
    }
    const [name, value]: unknown[] = pair;
    if (typeof name !== "string" || !TOKEN.test(name)) {
      throw refused(`hold ${describeName(name)}, which is not a header name`);
    }
    if (typeof value !== "string") {
      throw refused(
        `hold a value of ${describeName(name)} that is ${describeType(value)}, not a string`,
      );
    }
    try {
      headers.append(name, value);
    } catch {
      throw refused(
        `hold a value of ${
          describeName(name)
        } that a header cannot carry (a line break, a NUL, a character beyond U+00FF; not shown here)`,
      );
    }
  }
  return headers;
}

/** What a value is, without its text (a header value may be a secret). */
function describeType(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

async function send(request: GatewayRequest, body: string | undefined): Promise<void> {
  const { method, target, headers } = request;
  if (body !== undefined) headers.set("content-type", PROMETHEUS_CONTENT_TYPE);
  const what = `${method} ${redacted(target)}`;
  let response: Response;
  try {
    const init: RequestInit = {
      method,
      headers,
      signal: AbortSignal.timeout(request.timeoutMs),
    };
    if (body !== undefined) init.body = body;
    response = await fetch(target, init);
  } catch (error) {
    throw new PushgatewayError(
      `Cannot ${what}: ${error instanceof Error ? error.message : describeValue(error)}`,
      undefined,
      "",
      { cause: error },
    );
  }
  const text = await response.text().catch(() => "");
  if (!response.ok) {
    throw new PushgatewayError(
      `Cannot ${what}: the Pushgateway answered ${response.status} ${response.statusText}${
        text ? `: ${text.trim()}` : ""
      }`,
      response.status,
      text,
    );
  }
}
