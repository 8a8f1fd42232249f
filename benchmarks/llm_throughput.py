"""Requests per second of the model layer against a zero-latency loopback server.

Three runs side by side, same requests, same server (a separate process, so that it has a
core of its own):

  baseline   the bare `openai.AsyncOpenAI` client, same concurrency, no cache, no limits
  gateway    videokr's Gateway without a store (limits, retries, accounting)
  cached     videokr's Gateway with the exactly-once store (claim + stored reply per request)
  runner     `run_batch_lines` (the code behind `videokr llm run`) with the store, output file included
  replay     the runner again over the same requests: everything from the cache

Printed: requests/s of each and the ratios against the baseline; the cost of the cache is
gateway vs cached. Usage: `python benchmarks/llm_throughput.py [N] [CONCURRENCY]`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bodies(n: int, tag: str) -> list[dict]:
    return [{"model": "bench", "messages": [{"role": "user", "content": f"{tag} question {i}"}], "max_tokens": 8}
            for i in range(n)]


async def baseline(base_url: str, n: int, concurrency: int) -> float:
    import httpx2
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(body: dict) -> None:
        async with semaphore:
            response = await client.post("/chat/completions", cast_to=httpx2.Response, body=body)
            json.loads(response.text)

    start = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies(n, "baseline")))
    elapsed = time.perf_counter() - start
    await client.close()
    return n / elapsed


async def gateway_run(base_url: str, n: int, concurrency: int, store_path: Path | None, tag: str) -> float:
    from videokr.models.config import Limits, ModelConfig
    from videokr.models.gateway import Gateway
    from videokr.store import Store

    model = ModelConfig(base_url=base_url, model="bench", limits=Limits(concurrency=concurrency))
    store = Store(store_path) if store_path else None
    async with Gateway({"m": model}, store) as gateway:
        start = time.perf_counter()
        replies = await asyncio.gather(*(gateway.call("m", b, step="bench") for b in bodies(n, tag)))
        elapsed = time.perf_counter() - start
    assert all(r.ok for r in replies)
    return n / elapsed


async def runner_run(base_url: str, requests: Path, out: Path, concurrency: int, store_path: Path) -> float:
    from videokr.models.config import Limits, ModelConfig
    from videokr.models.gateway import Gateway
    from videokr.models.runner import read_requests, run_batch_lines
    from videokr.store import Store

    model = ModelConfig(base_url=base_url, model="bench", limits=Limits(concurrency=concurrency))
    lines = read_requests(requests)
    async with Gateway({"m": model}, Store(store_path)) as gateway:
        start = time.perf_counter()
        summary = await run_batch_lines(lines, gateway, "m", out)
        elapsed = time.perf_counter() - start
    assert summary.ok == len(lines)
    return len(lines) / elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "videokr.testing.openai_server", "--port", str(port), "--no-events"],
                              stdout=subprocess.PIPE, text=True)
    server.stdout.readline()
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmpdir = Path(tmp)
            requests = tmpdir / "in.jsonl"
            with requests.open("w") as handle:
                for i, body in enumerate(bodies(n, "runner")):
                    handle.write(json.dumps({"custom_id": f"r{i}", "method": "POST",
                                             "url": "/v1/chat/completions", "body": body}) + "\n")
            asyncio.run(baseline(base_url, 500, concurrency))  # warm up the server
            results = {
                "baseline": asyncio.run(baseline(base_url, n, concurrency)),
                "gateway": asyncio.run(gateway_run(base_url, n, concurrency, None, "gateway")),
                "cached": asyncio.run(gateway_run(base_url, n, concurrency, tmpdir / "c.sqlite", "cached")),
                "runner": asyncio.run(runner_run(base_url, requests, tmpdir / "out.jsonl", concurrency,
                                                 tmpdir / "r.sqlite")),
                "replay": asyncio.run(runner_run(base_url, requests, tmpdir / "out2.jsonl", concurrency,
                                                 tmpdir / "r.sqlite")),
            }
    finally:
        server.terminate()
        server.wait()
    print(f"{n} requests, concurrency {concurrency}, zero-latency loopback server in its own process")
    for name, rps in results.items():
        print(f"  {name:9s} {rps:8.0f} requests/s   x{rps / results['baseline']:.2f} of baseline")
    overhead_ms = (1 / results["cached"] - 1 / results["gateway"]) * 1000
    print(f"  cache cost: {overhead_ms:.3f} ms per request (cached vs gateway), "
          f"ratio {results['cached'] / results['gateway']:.2f}")


if __name__ == "__main__":
    main()
