"""
Real pytheus (Python) with its Redis backend, on the redis-server of
bench/redis_bench.ts, the same workloads: prints one JSON line.

    PYTHONPATH=<pytheus source> python3 bench/pytheus_py_bench.py <port> <scrape runs> <landed ops>

Needs pytheus' source on PYTHONPATH and the `redis` package (Debian's
python3-redis); bench/redis_bench.ts runs it when PYTHEUS_PY_SOURCE names
that source.
"""

import json
import statistics
import sys
import time

from pytheus.backends import load_backend
from pytheus.backends.redis import MultiProcessRedisBackend
from pytheus.exposition import generate_metrics
from pytheus.metrics import Counter, Histogram
from pytheus.registry import CollectorRegistry

port, runs, landed_ops = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
load_backend(
    backend_class=MultiProcessRedisBackend,
    backend_config={"host": "127.0.0.1", "port": port},
)


def scrape_ms(with_histograms: bool) -> float:
    """Median milliseconds of generate_metrics() over 10k counter series (and 100 histograms)."""
    registry = CollectorRegistry()
    suffix = "_h" if with_histograms else ""
    counter = Counter(
        f"py_scrape{suffix}_total", "Requests.", required_labels=["route", "code"], registry=registry
    )
    expected = 0
    for r in range(1000):
        for k in range(10):
            counter.labels({"route": f"/api/v1/items/{r}", "code": str(200 + k)}).inc(r + k + 1)
            expected += r + k + 1
    if with_histograms:
        histogram = Histogram(
            "py_scrape_seconds", "Latency.", required_labels=["route"], registry=registry
        )
        for r in range(100):
            child = histogram.labels({"route": f"/api/v1/items/{r}"})
            for v in range(3):
                child.observe(0.001 * (r + 1) * (v + 1))
    text = generate_metrics(registry)
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.split("\n")
        if line.startswith(f"py_scrape{suffix}_total{{")
    )
    if total != expected:
        raise SystemExit(f"pytheus scraped a total of {total}, expected {expected}")
    for _ in range(2):
        generate_metrics(registry)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        generate_metrics(registry)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def landed_per_second() -> float:
    """inc() over 1k series, each one written to Redis as pytheus does."""
    counter = Counter("py_landed_total", "Bench.", required_labels=["route"], registry=None)
    children = [counter.labels({"route": f"/r/{i}"}) for i in range(1000)]
    started = time.perf_counter()
    for i in range(landed_ops):
        children[i % 1000].inc()
    return landed_ops / (time.perf_counter() - started)


print(json.dumps({
    "scrapeMs": scrape_ms(False),
    "scrapeHistogramsMs": scrape_ms(True),
    "landedPerSecond": landed_per_second(),
}))
