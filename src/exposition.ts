/**
 * The Prometheus text format 0.0.4: what a scrape reads.
 *
 * @module
 */

import { escapeHelp, formatValue, renderLabels } from "./_format.ts";
import { REGISTRY, type Registry } from "./registry.ts";

/** The `Content-Type` of the text format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Renders every metric of a registry in the text format 0.0.4: per family
 * `# HELP`, `# TYPE`, then its samples; label values and help text escaped,
 * `+Inf`, `-Inf` and `NaN` spelled as Prometheus reads them.
 *
 * @param registry The registry to render.
 * @returns The exposition text, ending with a line feed.
 *
 * @example
 * ```ts
 * import { CollectorRegistry, Counter, generateMetrics } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * new Counter({ name: "up_total", description: "Ups.", registry }).inc();
 * console.assert(await generateMetrics(registry) ===
 *   "# HELP up_total Ups.\n# TYPE up_total counter\nup_total 1\n");
 * ```
 */
export async function generateMetrics(registry: Registry = REGISTRY): Promise<string> {
  let text = "";
  for (const { name, description, type, samples } of await registry.collect()) {
    text += `# HELP ${name} ${escapeHelp(description)}\n# TYPE ${name} ${type}\n`;
    for (const sample of samples) {
      text += name + sample.suffix + (sample.labelText ?? renderLabels(sample.labels)) + " " +
        formatValue(sample.value) + "\n";
    }
  }
  return text;
}
