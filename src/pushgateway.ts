/**
 * Pushing a registry's metrics to a Prometheus Pushgateway (for batch jobs
 * that end before a scrape could reach them), and deleting them again.
 *
 * @module
 */

import { LabelValidationError, PytheusError } from "./errors.ts";
import { generateMetrics, PROMETHEUS_CONTENT_TYPE } from "./exposition.ts";
import { REGISTRY, type Registry } from "./registry.ts";
import { checkLabelValue, describeName, describeValue, isLabelName } from "./_validation.ts";

/** Where in the Pushgateway a group of metrics lives, and how to reach it. */
export interface GatewayGroupOptions {
  /** The `job` label of the group; any non-empty string. */
  job: string;
  /**
   * More labels identifying the group (`{ instance: "db-1" }`); values may
   * hold any character, `/` and empty values included.
   *
   * @default {{}}
   */
  groupingKey?: Readonly<Record<string, string>>;
  /**
   * Extra request headers, such as `Authorization`.
   *
   * @default {{}}
   */
  headers?: HeadersInit;
  /**
   * Gives up (with a {@linkcode PushgatewayError}) after this many milliseconds.
   *
   * @default {30000}
   */
  timeoutMs?: number;
}

/** Options of {@linkcode pushToGateway} and {@linkcode pushAddToGateway}. */
export interface PushOptions extends GatewayGroupOptions {
  /**
   * The registry whose metrics are pushed.
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
 * @param url The Pushgateway's address, such as `http://localhost:9091`
 *   (`http://` is assumed without a scheme; a path is kept as a prefix).
 * @param options The group, the registry and the request options.
 * @throws {PushgatewayError} When the Pushgateway answers other than 2xx or cannot be reached.
 * @throws {LabelValidationError} When `job` is empty or a grouping label name is invalid.
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
  await send("PUT", url, options, await generateMetrics(options.registry ?? REGISTRY));
}

/**
 * Replaces only the metrics of the group that have the same names as the
 * registry's, keeping the others (HTTP `POST`).
 *
 * @param url The Pushgateway's address.
 * @param options The group, the registry and the request options.
 * @throws {PushgatewayError} When the Pushgateway answers other than 2xx or cannot be reached.
 * @throws {LabelValidationError} When `job` is empty or a grouping label name is invalid.
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
  await send("POST", url, options, await generateMetrics(options.registry ?? REGISTRY));
}

/**
 * Deletes every metric of the group (HTTP `DELETE`).
 *
 * @param url The Pushgateway's address.
 * @param options The group and the request options.
 * @throws {PushgatewayError} When the Pushgateway answers other than 2xx or cannot be reached.
 * @throws {LabelValidationError} When `job` is empty or a grouping label name is invalid.
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
  await send("DELETE", url, options, undefined);
}

/**
 * The URL of a group: `<url>/metrics/job/<job>{/<label>/<value>}`, each value
 * percent-encoded, or base64url-encoded (`<label>@base64/<value>`) when it
 * holds a `/` or is empty, as the Pushgateway requires.
 *
 * @param url The Pushgateway's address.
 * @param job The `job` label.
 * @param groupingKey More labels.
 * @returns The group's URL.
 * @throws {LabelValidationError} When `job` is empty or a grouping label name is invalid.
 *
 * @example
 * ```ts
 * import { gatewayGroupUrl } from "@pytheus/pytheus";
 * const url = gatewayGroupUrl("localhost:9091", "backup", { path: "/var/db", host: "a b" });
 * console.assert(url.href === "http://localhost:9091/metrics/job/backup/path@base64/L3Zhci9kYg==/host/a%20b");
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
  if (groupingKey === null || typeof groupingKey !== "object") {
    throw new LabelValidationError(
      `Cannot push to the Pushgateway: groupingKey must be a record of label values, got ${
        describeValue(groupingKey)
      }`,
    );
  }
  const base = new URL(typeof url === "string" && !url.includes("://") ? `http://${url}` : url);
  let path = base.pathname.replace(/\/+$/, "") + "/metrics" + segment("job", job);
  for (const [name, value] of Object.entries(groupingKey)) {
    if (!isLabelName(name)) {
      throw new LabelValidationError(
        `Cannot push to the Pushgateway: ${describeName(name)} is not a valid grouping label name`,
      );
    }
    path += segment(name, checkLabelValue("the Pushgateway group", name, value));
  }
  base.pathname = path;
  base.search = "";
  base.hash = "";
  return base;
}

function segment(name: string, value: string): string {
  if (value === "") return `/${name}@base64/=`;
  if (value.includes("/")) return `/${name}@base64/${base64url(value)}`;
  return `/${name}/${encodeURIComponent(value)}`;
}

function base64url(value: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(value)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_");
}

async function send(
  method: "PUT" | "POST" | "DELETE",
  url: string | URL,
  options: GatewayGroupOptions,
  body: string | undefined,
): Promise<void> {
  const target = gatewayGroupUrl(url, options.job, options.groupingKey);
  const headers = new Headers(options.headers);
  if (body !== undefined) headers.set("content-type", PROMETHEUS_CONTENT_TYPE);
  const what = `${method} ${target.href}`;
  let response: Response;
  try {
    const init: RequestInit = {
      method,
      headers,
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    };
    if (body !== undefined) init.body = body;
    response = await fetch(target, init);
  } catch (error) {
    throw new PushgatewayError(
      `Cannot ${what}: ${error instanceof Error ? error.message : String(error)}`,
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
