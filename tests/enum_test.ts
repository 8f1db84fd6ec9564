import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type Backend,
  type BackendConfig,
  type BackendMetric,
  CollectorRegistry,
  Enum,
  generateMetrics,
  InvalidValueError,
  LabelValidationError,
  loadBackend,
  SingleProcessBackend,
  UnobservableMetricError,
} from "../mod.ts";

/** The sample lines of an exposition (no `#` lines). */
function sampleLines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}

function taskState(
  registry: CollectorRegistry | null = null,
): Enum<never, "starting" | "running" | "stopped"> {
  return new Enum({
    name: "task_state",
    description: "Task state.",
    states: ["starting", "running", "stopped"] as const,
    registry,
  });
}

describe("Enum", () => {
  test("generateMetrics() renders an Enum as one sample per state, the first state 1 initially", async () => {
    const registry = new CollectorRegistry();
    const e = taskState(registry);
    assert.deepEqual(e.states, ["starting", "running", "stopped"]);
    // The text format has no stateset type: a gauge.
    assert.equal(
      await generateMetrics(registry),
      "# HELP task_state Task state.\n# TYPE task_state gauge\n" +
        'task_state{task_state="starting"} 1\n' +
        'task_state{task_state="running"} 0\n' +
        'task_state{task_state="stopped"} 0\n',
    );
    assert.equal(
      await generateMetrics(registry, { format: "openmetrics" }),
      "# TYPE task_state stateset\n# HELP task_state Task state.\n" +
        'task_state{task_state="starting"} 1\n' +
        'task_state{task_state="running"} 0\n' +
        'task_state{task_state="stopped"} 0\n# EOF\n',
    );
  });

  test("Enum.state() makes exactly one state 1", async () => {
    const registry = new CollectorRegistry();
    const e = taskState(registry);
    e.state("running");
    assert.deepEqual(sampleLines(await generateMetrics(registry)), [
      'task_state{task_state="starting"} 0',
      'task_state{task_state="running"} 1',
      'task_state{task_state="stopped"} 0',
    ]);
    e.state("stopped");
    e.state("starting");
    assert.deepEqual((await e.collect()).map((s) => s.value), [1, 0, 0]);
  });

  test("Enum.state() refuses an unknown state with InvalidValueError", async () => {
    const e = taskState();
    e.state("running");
    assert.throws(() => {
      // @ts-expect-error: "paused" is not one of the states
      e.state("paused");
    }, {
      name: "InvalidValueError",
      message:
        'Cannot set enum "task_state" to string "paused": not one of "starting", "running", "stopped"',
    });
    assert.throws(() => e.state(undefined as never), InvalidValueError);
    assert.deepEqual((await e.collect()).map((s) => s.value), [0, 1, 0]);
  });

  test("Enum samples carry the metric's labels, then the state label, named for the prefixed family", async () => {
    const registry = new CollectorRegistry({ prefix: "app" });
    const e = new Enum({
      name: "worker_state",
      description: "W.",
      requiredLabels: ["pool", "worker"],
      defaultLabels: { pool: "main" },
      states: ["idle", "busy"],
      registry,
    });
    e.labels({ worker: "w1" }).state("busy");
    e.labels({ worker: 'w"2' });
    assert.equal(e.labels({ worker: "w1" }), e.labels({ pool: "main", worker: "w1" }));
    assert.deepEqual(sampleLines(await generateMetrics(registry)), [
      'app_worker_state{pool="main",worker="w1",app_worker_state="idle"} 0',
      'app_worker_state{pool="main",worker="w1",app_worker_state="busy"} 1',
      'app_worker_state{pool="main",worker="w\\"2",app_worker_state="idle"} 1',
      'app_worker_state{pool="main",worker="w\\"2",app_worker_state="busy"} 0',
    ]);
    // collect() knows no registry: there the state label is the enum's own name.
    const [first] = await e.collect();
    assert.deepEqual(first?.labels, { pool: "main", worker: "w1", worker_state: "idle" });
  });

  test("Enum.state() on an incomplete enum throws UnobservableMetricError", () => {
    const e = new Enum({
      name: "worker_state",
      description: "W.",
      requiredLabels: ["worker"],
      states: ["idle", "busy"],
      registry: null,
    });
    assert.throws(() => e.state("busy"), {
      name: "UnobservableMetricError",
      message: 'Cannot observe "worker_state": label "worker" has no value',
    });
    assert.throws(() => e.labels({}).state("idle"), UnobservableMetricError);
  });

  test("Enum refuses empty, repeated or non-string states, and names unfit for a label", () => {
    const make = (name: string, states: unknown, requiredLabels: string[] = []) => () =>
      new Enum({
        name,
        description: "E.",
        states: states as string[],
        requiredLabels,
        registry: null,
      });
    assert.throws(make("e", []), {
      name: "LabelValidationError",
      message: 'Enum "e" needs a non-empty array of states',
    });
    assert.throws(make("e", undefined), LabelValidationError);
    assert.throws(make("e", ["a", "b", "a"]), {
      name: "LabelValidationError",
      message: 'State "a" of enum "e" is given twice',
    });
    assert.throws(make("e", ["a", 2]), {
      name: "LabelValidationError",
      message: 'State number 2 of enum "e" must be a string',
    });
    assert.throws(make("ns:state", ["a"]), {
      name: "LabelValidationError",
      message:
        'Invalid enum name "ns:state": it labels the states, so it must be a valid label name',
    });
    assert.throws(make("e", ["a"], ["e"]), {
      name: "LabelValidationError",
      message: 'Invalid label name "e" on "e": "e" is reserved for this metric type',
    });
    assert.throws(make("bad name", ["a"]), { name: "NameValidationError" });
  });

  test("Enum.remove() and clear() drop children; a new child starts in the first state", async () => {
    const e = new Enum({
      name: "door",
      description: "D.",
      requiredLabels: ["room"],
      states: ["closed", "open"],
      registry: null,
    });
    e.labels({ room: "a" }).state("open");
    e.labels({ room: "b" }).state("open");
    assert.equal(e.remove({ room: "a" }), true);
    assert.equal(e.remove({ room: "a" }), false);
    assert.deepEqual((await e.collect()).map((s) => s.value), [0, 1]);
    e.clear();
    assert.deepEqual(await e.collect(), []);
    e.labels({ room: "b" });
    assert.deepEqual((await e.collect()).map((s) => s.value), [1, 0]);
  });

  test("Enum stores the state's index in one backend, also a remote one", async () => {
    const made: string[] = [];
    const sets: number[] = [];
    const removed: string[] = [];
    let stored = 0;
    class AsyncBackend implements Backend {
      readonly #key: string;
      constructor(_config: BackendConfig, metric: BackendMetric, bucket?: string) {
        this.#key = `${metric.type}:${metric.name}:${JSON.stringify(metric.labelValues)}:${bucket}`;
        made.push(this.#key);
      }
      inc(v: number): void {
        stored += v;
      }
      dec(v: number): void {
        stored -= v;
      }
      set(v: number): void {
        sets.push(v);
        stored = v;
      }
      get(): Promise<number> {
        return Promise.resolve(stored);
      }
      remove(): void {
        removed.push(this.#key);
      }
    }
    await loadBackend({ backendClass: AsyncBackend, backendConfig: {} });
    try {
      const registry = new CollectorRegistry();
      const e = new Enum({
        name: "phase",
        description: "P.",
        requiredLabels: ["job"],
        states: ["queued", "running", "done"],
        registry,
      });
      const job = e.labels({ job: "j1" });
      assert.deepEqual(made, ['stateset:phase:{"job":"j1"}:undefined']);
      assert.deepEqual(sets, [], "creating a child writes nothing");
      job.state("done");
      job.state("running");
      assert.deepEqual(sets, [2, 1]);
      assert.deepEqual(sampleLines(await generateMetrics(registry)), [
        'phase{job="j1",phase="queued"} 0',
        'phase{job="j1",phase="running"} 1',
        'phase{job="j1",phase="done"} 0',
      ]);
      // A value no state has (another process' enum with more states): all 0.
      stored = 7;
      assert.deepEqual((await e.collect()).map((s) => s.value), [0, 0, 0]);
      e.clear();
      assert.deepEqual(removed, made);
    } finally {
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    }
  });
});
