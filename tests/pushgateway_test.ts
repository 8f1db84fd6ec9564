import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectorRegistry,
  Counter,
  deleteFromGateway,
  Gauge,
  InvalidOptionError,
  LabelValidationError,
  pushAddToGateway,
  PushgatewayError,
  pushToGateway,
} from "../mod.ts";
import { gatewayGroupUrl } from "../src/push/pushgateway.ts";
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

  test("gatewayGroupUrl() base64-encodes . and .., which a URL would resolve as dot segments", () => {
    assert.equal(
      gatewayGroupUrl("http://gw:9091", "batch", { instance: ".." }).href,
      "http://gw:9091/metrics/job/batch/instance@base64/Li4=",
    );
    assert.equal(
      gatewayGroupUrl("http://gw:9091/prefix", "..", { x: ".", y: "..", z: "..." }).href,
      "http://gw:9091/prefix/metrics/job@base64/Li4=/x@base64/Lg==/y@base64/Li4=/z/...",
    );
    // Other values that look like dot segments once decoded stay percent-encoded text.
    assert.equal(
      gatewayGroupUrl("gw:9091", "j", { a: "%2e%2e", b: ".%2E", c: "\\.." }).href,
      "http://gw:9091/metrics/job/j/a/%252e%252e/b/.%252E/c/%5C..",
    );
  });

  test("gatewayGroupUrl() refuses job as a grouping label name, which would override the job", () => {
    for (const groupingKey of [{ job: "victim" }, { x: "..", y: "..", job: "victim" }]) {
      assert.throws(() => gatewayGroupUrl("localhost:9091", "batch", groupingKey), {
        name: "LabelValidationError",
        message: 'Cannot push to the Pushgateway: "job" cannot be a grouping label name ' +
          '(it would override the job string "batch"): pass it as the job option',
      });
    }
  });

  test("gatewayGroupUrl() refuses an address that is not an http: or https: URL with InvalidOptionError", () => {
    const refused: [unknown, string][] = [
      ["http://[x", '"http://[x" is not a valid URL'],
      ["ftp://gw/", '"ftp://gw/" must be an http: or https: URL'],
      ["gw:port", '"gw:port" is not a valid URL'], // read as http://gw:port
      [5, "must be a string or a URL, got number 5"],
      [undefined, "must be a string or a URL, got undefined"],
      ["http://user:secret@[x", '"http://user:***@[x" is not a valid URL'],
    ];
    for (const [url, words] of refused) {
      assert.throws(() => gatewayGroupUrl(url as string, "j"), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError, String(error));
        assert.ok(error.message.includes(words), error.message);
        assert.ok(!error.message.includes("secret"), error.message);
        return true;
      });
    }
    assert.equal(
      gatewayGroupUrl(new URL("https://gw/x?y#z"), "j").href,
      "https://gw/x/metrics/job/j",
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

  test("a grouping value . or .. is a group of its own, leaving the other groups alone", {
    skip,
  }, async () => {
    const job = "dots";
    const pushed = async (value: number, groupingKey?: Record<string, string>, name = job) => {
      const registry = new CollectorRegistry();
      new Gauge({ name: "dot_value", description: "D.", registry }).set(value);
      await pushToGateway(url, { job: name, registry, ...groupingKey && { groupingKey } });
    };
    await pushed(1); // the group { job: "dots" }
    await pushed(7, { instance: "victim" }, "victim");
    // Resolved as dot segments, these were PUTs to /metrics/job/dots/ and .../job/victim.
    await pushed(2, { instance: ".." });
    await pushed(3, { instance: "." });
    await pushed(4, { x: "..", y: "..", instance: "victim" });
    await pushed(5, {}, "..");
    const value = async (labels: Record<string, string>) =>
      values(await group(labels), "dot_value").map((sample) => sample.value);
    assert.deepEqual(await value({ job }), ["1"]);
    assert.deepEqual(await value({ job: "victim", instance: "victim" }), ["7"]);
    assert.deepEqual(await value({ job, instance: ".." }), ["2"]);
    assert.deepEqual(await value({ job, instance: "." }), ["3"]);
    assert.deepEqual(await value({ job, x: "..", y: "..", instance: "victim" }), ["4"]);
    assert.deepEqual(await value({ job: ".." }), ["5"]);
    // Deleting the .. group deletes it alone.
    await deleteFromGateway(url, { job, groupingKey: { instance: ".." } });
    assert.equal(await group({ job, instance: ".." }), undefined);
    assert.deepEqual(await value({ job }), ["1"]);
    await assert.rejects(
      pushed(6, { x: "..", y: "..", job: "victim" }),
      LabelValidationError,
    );
    assert.deepEqual(await value({ job: "victim", instance: "victim" }), ["7"]);
    for (
      const [name, groupingKey] of [
        [job, {}],
        [job, { instance: "." }],
        [job, { x: "..", y: "..", instance: "victim" }],
        ["victim", { instance: "victim" }],
        ["..", {}],
      ] as const
    ) {
      await deleteFromGateway(url, { job: name, groupingKey });
    }
    assert.deepEqual(
      (await groups()).filter((g) => ["dots", "victim", ".."].includes(g.labels.job!)),
      [],
    );
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

describe("pushToGateway() argument checks", () => {
  const registry = new CollectorRegistry();

  test("pushToGateway() rejects a bad address or headers with InvalidOptionError, sending nothing", async () => {
    // Nothing listens there: a request would fail with PushgatewayError instead.
    const port = await freePort();
    const at = `127.0.0.1:${port}`;
    const refused: [() => Promise<void>, string][] = [
      [() => pushToGateway("http://[x", { job: "j", registry }), "is not a valid URL"],
      [
        () => pushToGateway(at, { job: "j", headers: { "a b": "c" }, registry }),
        'pushToGateway(): headers hold "a b", which is not a header name',
      ],
      [
        () => pushAddToGateway(at, { job: "j", headers: [["x-token", "a\nb"]], registry }),
        'headers hold a value of "x-token" that a header cannot carry',
      ],
      [
        () => deleteFromGateway(at, { job: "j", headers: { authorization: undefined } as never }),
        'headers hold a value of "authorization" that is undefined, not a string',
      ],
      [
        () => pushToGateway(at, { job: "j", headers: 5 as never, registry }),
        "headers must be a record, a list of [name, value] pairs or a Headers, got number 5",
      ],
      [
        () => pushToGateway(at, { job: "j", timeoutMs: 0, registry }),
        "timeoutMs must be a number of milliseconds, more than 0 and at most 2147483647, got number 0",
      ],
      [
        () => pushToGateway(at, { job: "j", timeoutMs: 1e10, registry }),
        "got number 10000000000",
      ],
      [
        () => pushToGateway(at, { job: "j", registry: 5 as never }),
        "pushToGateway(): registry must be a registry",
      ],
      [
        () => pushToGateway(at, { job: "j", registry: null as never }),
        "registry must be a registry, got null",
      ],
    ];
    for (const [call, words] of refused) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError, String(error));
        assert.ok(error.message.includes(words), error.message);
        return true;
      });
    }
  });

  test("the Pushgateway calls check their options object: unknown keys and null refused", async () => {
    await assert.rejects(pushToGateway("gw", null as never), {
      name: "InvalidOptionError",
      message: "pushToGateway() takes one options object ({ job, groupingKey, ... }), got null",
    });
    await assert.rejects(pushAddToGateway("gw", { job: "j", grouping: {} } as never), {
      name: "InvalidOptionError",
      message: 'pushAddToGateway() has no option "grouping": it takes job, groupingKey, headers, ' +
        "timeoutMs, registry",
    });
    await assert.rejects(deleteFromGateway("gw", { job: "j", registry } as never), {
      name: "InvalidOptionError",
      message:
        'deleteFromGateway() has no option "registry": it takes job, groupingKey, headers, timeoutMs',
    });
    await assert.rejects(
      pushToGateway("gw", { job: "j", groupingKey: { job: "victim" }, registry }),
      LabelValidationError,
    );
  });

  test("a refused request's message hides the address's password", async () => {
    const port = await freePort();
    const error = await deleteFromGateway(`http://ops:secret@127.0.0.1:${port}`, { job: "x" }).then(
      () => assert.fail("the delete should fail"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof PushgatewayError);
    assert.match(
      error.message,
      /^Cannot DELETE http:\/\/ops:\*\*\*@127\.0\.0\.1:\d+\/metrics\/job\/x: /,
    );
    assert.ok(!error.message.includes("secret"), error.message);
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
