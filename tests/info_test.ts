import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  generateMetrics,
  Info,
  LabelValidationError,
  NameValidationError,
  UnobservableMetricError,
} from "../mod.ts";

/** The sample lines of an exposition (no `#` lines). */
function sampleLines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}

describe("Info", () => {
  test("generateMetrics() renders Info.set() as one <name>_info sample of value 1", async () => {
    const registry = new CollectorRegistry();
    const build = new Info({ name: "build", description: "Build facts.", registry });
    build.set({ version: "1.2.3", commit: "abc" });
    // The text format has no info type: a gauge named <name>_info.
    assert.equal(
      await generateMetrics(registry),
      "# HELP build_info Build facts.\n# TYPE build_info gauge\n" +
        'build_info{version="1.2.3",commit="abc"} 1\n',
    );
    assert.equal(
      await generateMetrics(registry, { format: "openmetrics" }),
      "# TYPE build info\n# HELP build Build facts.\n" +
        'build_info{version="1.2.3",commit="abc"} 1\n# EOF\n',
    );
    assert.deepEqual(await build.collect(), [{
      suffix: "_info",
      labels: { version: "1.2.3", commit: "abc" },
      value: 1,
      labelText: '{version="1.2.3",commit="abc"}',
    }]);
  });

  test("Info.set() replaces every previous fact", async () => {
    const registry = new CollectorRegistry();
    const build = new Info({ name: "build", description: "B.", registry });
    build.set({ version: "1", branch: "main" });
    build.set({ version: "2" });
    assert.deepEqual(sampleLines(await generateMetrics(registry)), ['build_info{version="2"} 1']);
    assert.deepEqual(build.values, { version: "2" });
    build.set({});
    assert.deepEqual(sampleLines(await generateMetrics(registry)), ["build_info 1"]);
  });

  test("Info shows <name>_info 1 with no facts before the first set()", async () => {
    const registry = new CollectorRegistry({ prefix: "app" });
    const build = new Info({ name: "build", description: "B.", registry });
    assert.deepEqual(build.values, {});
    assert.deepEqual(sampleLines(await generateMetrics(registry)), ["app_build_info 1"]);
  });

  test("Info facts follow the required labels, and children keep their own facts", async () => {
    const registry = new CollectorRegistry();
    const plugin = new Info({
      name: "plugin",
      description: "Plugins.",
      requiredLabels: ["plugin", "host"],
      defaultLabels: { host: "h1" },
      registry,
    });
    plugin.labels({ plugin: "auth" }).set({ version: "2.0" });
    plugin.labels({ plugin: "cache", host: "h2" }).set({ version: "1.1", mode: "lru" });
    assert.equal(plugin.labels({ plugin: "auth" }), plugin.labels({ plugin: "auth", host: "h1" }));
    assert.deepEqual(plugin.labels({ plugin: "cache", host: "h2" }).values, {
      version: "1.1",
      mode: "lru",
    });
    assert.deepEqual(sampleLines(await generateMetrics(registry)), [
      'plugin_info{plugin="auth",host="h1",version="2.0"} 1',
      'plugin_info{plugin="cache",host="h2",version="1.1",mode="lru"} 1',
    ]);
  });

  test("Info.set() escapes fact values", async () => {
    const registry = new CollectorRegistry();
    const build = new Info({ name: "build", description: "B.", registry });
    build.set({ note: 'a "quoted"\\ line\nbreak' });
    assert.deepEqual(sampleLines(await generateMetrics(registry)), [
      'build_info{note="a \\"quoted\\"\\\\ line\\nbreak"} 1',
    ]);
  });

  test("Info refuses a name ending in _info with NameValidationError", () => {
    assert.throws(() => new Info({ name: "build_info", description: "B.", registry: null }), {
      name: "NameValidationError",
      message: 'Invalid info name "build_info": the "_info" suffix is added, name it "build"',
    });
    assert.throws(
      () => new Info({ name: "bad name", description: "B.", registry: null }),
      NameValidationError,
    );
  });

  test("Info.set() refuses invalid names, required labels and non-string values", () => {
    const info = new Info({
      name: "build",
      description: "B.",
      requiredLabels: ["host"],
      defaultLabels: { host: "h" },
      registry: null,
    });
    assert.throws(() => info.set({ "1x": "a" }), {
      name: "LabelValidationError",
      message: 'Invalid label name "1x" on "build": must match [a-zA-Z_][a-zA-Z0-9_]*',
    });
    assert.throws(() => info.set({ __x: "a" }), LabelValidationError);
    assert.throws(() => info.set({ version: 1 as unknown as string }), {
      name: "LabelValidationError",
      message: 'Label "version" of "build" must be a string, got number 1',
    });
    assert.throws(() => info.set(null as never), LabelValidationError);
    assert.throws(() => {
      // @ts-expect-error: "host" is a required label, not a fact
      info.set({ host: "other" });
    }, {
      name: "LabelValidationError",
      message: 'Cannot set info "build": "host" is one of its required labels',
    });
    // A refused set() keeps the previous facts.
    info.set({ version: "1" });
    assert.throws(() => info.set({ version: "2", "bad-name": "x" }), LabelValidationError);
    assert.deepEqual(info.values, { version: "1" });
  });

  test("Info.set() on an incomplete info throws UnobservableMetricError", () => {
    const info = new Info({
      name: "build",
      description: "B.",
      requiredLabels: ["host", "zone"],
      registry: null,
    });
    assert.throws(() => info.set({ version: "1" }), {
      name: "UnobservableMetricError",
      message: 'Cannot observe "build": labels "host", "zone" have no value',
    });
    assert.throws(() => info.labels({ host: "a" }).set({ version: "1" }), UnobservableMetricError);
  });

  test("Info.remove() and clear() drop children", async () => {
    const info = new Info({
      name: "build",
      description: "B.",
      requiredLabels: ["host"],
      registry: null,
    });
    info.labels({ host: "a" }).set({ version: "1" });
    info.labels({ host: "b" }).set({ version: "2" });
    assert.equal(info.remove({ host: "a" }), true);
    assert.deepEqual((await info.collect()).map((s) => s.labels), [{ host: "b", version: "2" }]);
    info.clear();
    assert.deepEqual(await info.collect(), []);
    assert.deepEqual(info.labels({ host: "b" }).values, {});
  });
});
