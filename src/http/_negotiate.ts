/**
 * Content negotiation for a scrape: the exposition format and the escaping
 * of names from `Accept` (by q-value, as Prometheus' own client_golang does
 * it), and whether to gzip from `Accept-Encoding`.
 *
 * @module
 */

import {
  type ExpositionFormat,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  PROTOBUF_CONTENT_TYPE,
} from "../exposition/exposition.ts";
import { type Escaping, ESCAPINGS } from "../exposition/_escaping.ts";

/** The format a scrape gets, how it writes names, and the `Content-Type` that names both. */
export interface Negotiated {
  /** The exposition format. */
  readonly format: ExpositionFormat;
  /** The text format's version. */
  readonly version?: "1.0.0";
  /** How names outside the legacy character set are written. */
  readonly escaping: Escaping;
  /** The `Content-Type` header of the answer. */
  readonly contentType: string;
}

/** A format we answer in, and whether its version can carry quoted names. */
interface Answer {
  readonly format: ExpositionFormat;
  readonly version?: "1.0.0";
  readonly contentType: string;
  readonly quotes: boolean;
  /** Whether its `Content-Type` always names the escaping (text formats 1.0.0). */
  readonly namesEscaping: boolean;
}

const TEXT: Answer = {
  format: "text",
  contentType: PROMETHEUS_CONTENT_TYPE,
  quotes: false,
  namesEscaping: false,
};
const TEXT_1_0_0: Answer = {
  format: "text",
  version: "1.0.0",
  contentType: "text/plain; version=1.0.0; charset=utf-8",
  quotes: true,
  namesEscaping: true,
};
const OPENMETRICS: Answer = {
  format: "openmetrics",
  contentType: OPENMETRICS_CONTENT_TYPE,
  quotes: true,
  namesEscaping: true,
};
const PROTOBUF: Answer = {
  format: "protobuf",
  contentType: PROTOBUF_CONTENT_TYPE,
  quotes: true,
  namesEscaping: false,
};
// OpenMetrics 0.0.1 is the draft that became 1.0.0: Prometheus reads both
// with one parser, and client_golang answers 0.0.1 with the same text,
// labelled 0.0.1. So do we.
const OPENMETRICS_0_0_1: Answer = {
  format: "openmetrics",
  contentType: "application/openmetrics-text; version=0.0.1; charset=utf-8",
  quotes: false,
  namesEscaping: false,
};

/** One media range of an `Accept` header. */
interface MediaRange {
  readonly type: string;
  readonly subtype: string;
  readonly version: string | undefined;
  /** The `proto` and `encoding` parameters (the protobuf format's). */
  readonly proto: string | undefined;
  readonly encoding: string | undefined;
  /** The `escaping` parameter, when it names a scheme. */
  readonly escaping: Escaping | undefined;
  readonly q: number;
  readonly specificity: number;
  readonly index: number;
}

/**
 * Picks the format for an `Accept` header: its media ranges by q-value
 * (highest first; on a tie the more specific, then the earlier), the first
 * we produce wins: `application/vnd.google.protobuf` with
 * `proto=io.prometheus.client.MetricFamily` and `encoding=delimited` gives the
 * protobuf format; `application/openmetrics-text` with version 1.0.0, 0.0.1
 * or none gives OpenMetrics; `text/plain` with version 0.0.4, 1.0.0 or none,
 * `text/*` and `*\/*` give the text format. Ranges with `q=0` are refused;
 * other versions (a future OpenMetrics) are skipped. With no header, or
 * nothing we produce, the text format 0.0.4 (as every Prometheus reads it).
 *
 * Names are escaped as the chosen range's `escaping` parameter says
 * (`underscores` without one, or with one we do not know). `allow-utf-8`
 * is honoured where the format can quote names (text 1.0.0, OpenMetrics
 * 1.0.0, protobuf); text 0.0.4 and OpenMetrics 0.0.1 get `underscores`.
 * The `Content-Type` names the escaping when the range asked for one, and
 * always for the 1.0.0 text formats.
 *
 * @param accept The `Accept` header, or `null`.
 * @returns The format, its escaping and its `Content-Type`.
 */
export function negotiateFormat(accept: string | null): Negotiated {
  if (!accept) return negotiated(TEXT, undefined);
  const ranges = parseAccept(accept).sort((a, b) =>
    b.q - a.q || b.specificity - a.specificity || a.index - b.index
  );
  for (const range of ranges) {
    const answer = answerTo(range);
    if (answer !== undefined) return negotiated(answer, range.escaping);
  }
  return negotiated(TEXT, undefined);
}

/** The format we answer a media range in, if we produce it. */
function answerTo(range: MediaRange): Answer | undefined {
  if (range.q === 0) return undefined;
  const { type, subtype, version } = range;
  if (type === "application" && subtype === "vnd.google.protobuf") {
    // Length-delimited MetricFamily messages, the one protobuf exposition there is.
    if (range.proto === "io.prometheus.client.MetricFamily" && range.encoding === "delimited") {
      return PROTOBUF;
    }
  } else if (type === "application" && subtype === "openmetrics-text") {
    if (version === undefined || version === "1.0.0") return OPENMETRICS;
    if (version === "0.0.1") return OPENMETRICS_0_0_1;
  } else if (type === "text" && subtype === "plain") {
    if (version === undefined || version === "0.0.4") return TEXT;
    if (version === "1.0.0") return TEXT_1_0_0;
  } else if ((type === "text" || type === "*") && subtype === "*") {
    return TEXT;
  }
  return undefined;
}

/** An answer with the escaping a range asked for, and the `Content-Type` that names it. */
function negotiated(answer: Answer, asked: Escaping | undefined): Negotiated {
  const escaping = asked === undefined || (asked === "allow-utf-8" && !answer.quotes)
    ? "underscores"
    : asked;
  const contentType = asked === undefined && !answer.namesEscaping
    ? answer.contentType
    : `${answer.contentType}; escaping=${escaping}`;
  return answer.version === undefined
    ? { format: answer.format, escaping, contentType }
    : { format: answer.format, version: answer.version, escaping, contentType };
}

/**
 * Whether an `Accept-Encoding` header accepts gzip: `gzip` (or `x-gzip`, or
 * else `*`) with a q-value above 0, and not below that of `identity` when
 * `identity` is listed.
 *
 * @param acceptEncoding The `Accept-Encoding` header, or `null`.
 * @returns Whether to gzip the answer.
 */
export function acceptsGzip(acceptEncoding: string | null): boolean {
  if (!acceptEncoding) return false;
  let gzip: number | undefined;
  let identity: number | undefined;
  let any: number | undefined;
  for (const part of acceptEncoding.split(",")) {
    const [coding = "", ...params] = part.split(";");
    const q = qValue(params);
    if (q === undefined) continue;
    const name = coding.trim().toLowerCase();
    if (name === "gzip" || name === "x-gzip") gzip = Math.max(gzip ?? 0, q);
    else if (name === "identity") identity = q;
    else if (name === "*") any = q;
  }
  const q = gzip ?? any ?? 0;
  return q > 0 && (identity === undefined || q >= identity);
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  splitOutsideQuotes(header, ",").forEach((part, index) => {
    const [mediaType = "", ...rawParams] = splitOutsideQuotes(part, ";");
    const slash = mediaType.indexOf("/");
    if (slash < 0) return;
    const type = mediaType.slice(0, slash).trim().toLowerCase();
    const subtype = mediaType.slice(slash + 1).trim().toLowerCase();
    if (!type || !subtype) return;
    const q = qValue(rawParams);
    if (q === undefined) return;
    const value = (name: string): string | undefined => {
      for (const param of rawParams) {
        const eq = param.indexOf("=");
        if (eq >= 0 && param.slice(0, eq).trim().toLowerCase() === name) {
          return unquote(param.slice(eq + 1).trim());
        }
      }
      return undefined;
    };
    const specificity = type === "*" ? 0 : subtype === "*" ? 1 : 2;
    ranges.push({
      type,
      subtype,
      version: value("version"),
      proto: value("proto"),
      encoding: value("encoding"),
      escaping: ESCAPINGS.find((scheme) => scheme === value("escaping")),
      q,
      specificity,
      index,
    });
  });
  return ranges;
}

/** The `q` parameter (1 when absent), or `undefined` when malformed. */
function qValue(params: readonly string[]): number | undefined {
  for (const param of params) {
    const eq = param.indexOf("=");
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== "q") continue;
    const text = unquote(param.slice(eq + 1).trim());
    return /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(text) ? Number(text) : undefined;
  }
  return 1;
}

function unquote(text: string): string {
  return text.length >= 2 && text.startsWith('"') && text.endsWith('"')
    ? text.slice(1, -1).replace(/\\(.)/g, "$1")
    : text;
}

/** Splits on `separator`, except inside double-quoted parameter values. */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
