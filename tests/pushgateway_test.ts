import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectorRegistry,
  Counter,
  deleteFromGateway,
  gatewayGroupUrl,
  Gauge,
  LabelValidationError,
  pushAddToGateway,
  PushgatewayError,
  pushToGateway,
} from "../mod.ts";
import { freePort, needs, type Running, start, waitFor } from "./_process.ts";

/** One group as `/api/v1/metrics` lists it: its labels, and per metric name its samples. */
interface Group {
  labels: Record<string, string>;
  [metric: string]: unknown;
}
interface Family {
  type: string;
  metrics: { labels: Record<string, string>; value: string }[];
}

describe("gatewayGroupUrl()", () => {
  test("gatewayGroupUrl() percent-encodes values and base64-encodes those with / or empty", () => {
    const url = gatewayGroupUrl("http://gw:9091/base/", "nightly/batch", {
      instance: "héllo wörld",
      path: "/var/ü",
      empty: "",
      plain: "a+b?c",
    });
    assert.equal(
      url.href,
      "http://gw:9091/base/metrics/job@base64/bmlnaHRseS9iYXRjaA==" +
        "/instance/h%C3%A9llo%20w%C3%B6rld/path@base64/L3Zhci_DvA==/empty@base64/=/plain/a%2Bb%3Fc",
    );
  });

  test("gatewayGroupUrl() assumes http:// without a scheme", () => {
    assert.equal(
      gatewayGroupUrl("localhost:9091", "j").href,
      "http://localhost:9091/metrics/job/j",
    );
  });

  test("gatewayGroupUrl() rejects an empty job and invalid label names", () => {
    assert.throws(() => gatewayGroupUrl("localhost:9091", ""), LabelValidationError);
    assert.throws(
      () => gatewayGroupUrl("localhost:9091", "j", { "bad-name": "x" }),
      LabelValidationError,
    );
  });
});

describe("pushToGateway() against a real Pushgateway", () => {
  const skip = needs("prometheus-pushgateway");
  let gateway: Running | undefined;
  let url = "";

  before(async () => {
    if (skip) return;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    gateway = start("prometheus-pushgateway", [
      `--web.listen-address=127.0.0.1:${port}`,
      "--persistence.file=",
      "--log.level=warn",
    ]);
    await waitFor("the Pushgateway", async () => (await fetch(`${url}/-/ready`)).ok);
  });
  after(async () => {
    await gateway?.stop();
  });

  async function groups(): Promise<Group[]> {
    const answer = await (await fetch(`${url}/api/v1/metrics`)).json() as { data: Group[] };
    return answer.data;
  }

  async function group(labels: Record<string, string>): Promise<Group | undefined> {
    return (await groups()).find((g) =>
      JSON.stringify(Object.entries(g.labels).sort()) ===
        JSON.stringify(Object.entries(labels).sort())
    );
  }

  function values(group: Group | undefined, metric: string): Record<string, string>[] {
    const family = group?.[metric] as Family | undefined;
    return family?.metrics.map((m) => ({ ...m.labels, value: m.value })) ?? [];
  }

  test("pushToGateway() puts a registry under job and grouping labels, / and unicode included", {
    skip,
  }, async () => {
    const registry = new CollectorRegistry();
    new Counter({ name: "rows_total", description: "Rows.", registry }).inc(42);
    const key = { instance: "héllo wörld", path: "/var/ünï/db" };
    await pushToGateway(url, { job: "nightly/backup", groupingKey: key, registry });
    const pushed = await group({ job: "nightly/backup", ...key });
    assert.ok(pushed, `group not found in ${JSON.stringify(await groups())}`);
    assert.deepEqual(values(pushed, "rows_total"), [
      { job: "nightly/backup", ...key, value: "42" },
    ]);
    assert.equal((pushed["rows_total"] as Family).type, "COUNTER");
    const text = await (await fetch(`${url}/metrics`)).text();
    assert.ok(
      text.includes(
        'rows_total{instance="héllo wörld",job="nightly/backup",path="/var/ünï/db"} 42\n',
      ),
      text,
    );
    await deleteFromGateway(url, { job: "nightly/backup", groupingKey: key });
  });

  test("pushAddToGateway() merges by metric name, pushToGateway() replaces the group", {
    skip,
  }, async () => {
    const job = "merge";
    // Without an instance label the Pushgateway shows an empty one on every sample.
    const series = { instance: "", job };
    const first = new CollectorRegistry();
    new Gauge({ name: "a", description: "A.", registry: first }).set(1);
    new Gauge({ name: "b", description: "B.", registry: first }).set(2);
    await pushToGateway(url, { job, registry: first });

    const second = new CollectorRegistry();
    new Gauge({ name: "b", description: "B.", registry: second }).set(5);
    new Gauge({ name: "c", description: "C.", registry: second }).set(3);
    await pushAddToGateway(url, { job, registry: second });
    let pushed = await group({ job });
    assert.deepEqual(values(pushed, "a"), [{ ...series, value: "1" }]);
    assert.deepEqual(values(pushed, "b"), [{ ...series, value: "5" }]);
    assert.deepEqual(values(pushed, "c"), [{ ...series, value: "3" }]);

    const third = new CollectorRegistry();
    new Gauge({ name: "c", description: "C.", registry: third }).set(9);
    await pushToGateway(url, { job, registry: third });
    pushed = await group({ job });
    assert.deepEqual(values(pushed, "a"), []);
    assert.deepEqual(values(pushed, "b"), []);
    assert.deepEqual(values(pushed, "c"), [{ ...series, value: "9" }]);
  });

  test("deleteFromGateway() removes the group and only it", { skip }, async () => {
    const registry = new CollectorRegistry();
    new Gauge({ name: "kept_or_not", description: "K.", registry }).set(1);
    await pushToGateway(url, { job: "del", groupingKey: { shard: "1" }, registry });
    await pushToGateway(url, { job: "del", groupingKey: { shard: "2" }, registry });
    await pushToGateway(url, { job: "del", groupingKey: { shard: "" }, registry });
    await deleteFromGateway(url, { job: "del", groupingKey: { shard: "1" } });
    await deleteFromGateway(url, { job: "del", groupingKey: { shard: "" } });
    const left = (await groups()).filter((g) => g.labels.job === "del").map((g) => g.labels);
    assert.deepEqual(left, [{ job: "del", shard: "2" }]);
  });

  test("pushToGateway() throws PushgatewayError with status and body on a refusal", {
    skip,
  }, async () => {
    // The counter is pushed as clash_total: a gauge of that name in another group is
    // the same metric with another type, which the Pushgateway refuses.
    const counter = new CollectorRegistry();
    new Counter({ name: "clash", description: "C.", registry: counter }).inc();
    await pushToGateway(url, { job: "clash1", registry: counter });
    const gauge = new CollectorRegistry();
    new Gauge({ name: "clash_total", description: "C.", registry: gauge }).set(1);
    const error = await pushToGateway(url, { job: "clash2", registry: gauge }).then(
      () => assert.fail("the push should be refused"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof PushgatewayError);
    assert.equal(error.status, 400);
    // Which of the two it names first varies from run to run.
    assert.match(
      error.body,
      /inconsistent with existing metrics: collected metric "clash_total" .* is not a (COUNTER|GAUGE)\n$/,
    );
    assert.match(error.message, /^Cannot PUT http:\/\/127\.0\.0\.1:\d+\/metrics\/job\/clash2: /);
  });
});

describe("pushToGateway() without a Pushgateway", () => {
  test("pushToGateway() throws PushgatewayError without status when nothing listens", async () => {
    const port = await freePort();
    const error = await pushToGateway(`127.0.0.1:${port}`, {
      job: "x",
      registry: new CollectorRegistry(),
    }).then(() => assert.fail("the push should fail"), (error: unknown) => error);
    assert.ok(error instanceof PushgatewayError);
    assert.equal(error.status, undefined);
    assert.equal(error.body, "");
  });
});
