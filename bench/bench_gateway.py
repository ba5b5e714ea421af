"""Gateway overhead: the same fake provider called directly, through Nexus, and through LiteLLM's proxy.

All three run on this machine in the same run, on loopback: the fake (tests/fakes/llm_server.py,
its own process), one daphne process serving Nexus's `/api/v1/openai/chat/completions` (API key
auth, tier and rate checks, concurrency slot, registry, adapter on the `openai` SDK, one usage
record per call), and one LiteLLM proxy process (`litellm[proxy]` in its own venv,
bench/.venv-litellm, created here when missing; `LITELLM_LOCAL_MODEL_COST_MAP=True` so it starts
offline; its only model points at the same fake). The load client is aiohttp (the `openai` SDK
would add 3-6 ms of its own per request).

Measured per target: latency p50/p95 one request at a time (non-streamed, and streamed with time
to first token), then 50 requests in flight for a fixed time (requests/s, and streams/s with
TTFT), and the bytes each answer puts on the wire. Overhead = target minus direct.

Beside them, the floor (bench/gateway_floor.py): daphne serving the same SDK call per request and
nothing else, as a bare ASGI app and as a Django view with no middleware. Its CPU per call and
requests/s at 50 in flight bound what any gateway on daphne and the `openai` SDK reaches here
(`ratios_floor_over_litellm`).

Targets (issue "LLM gateway"): p50 overhead <= 5 ms one at a time; at 50 in flight, at least 5x
LiteLLM's requests/s and streams/s. Issue 15 adds CPU per request <= 3 ms: `server_cpu_ms_per_request`
(psutil, the server process and its children, over the sequential non-streamed phase) for Nexus and LiteLLM,
and the same over each 50-in-flight phase (per answer or stream), for every server the run starts.
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from apps.core.runtime.embedded import free_port
from bench.harness import ROOT, BenchContext, percentiles

# 1.106.x is the release the issue measured; later 1.106 patches need a newer certifi than the registry mirror has.
LITELLM_VERSION = "1.106.2"
LITELLM_VENV = Path(__file__).resolve().parent / ".venv-litellm"
FAKE_KEY = "bench-fake-provider-key"
LITELLM_MASTER_KEY = "sk-bench-master-key"
MODEL = "bench-model"
PROMPT = "Benchmark prompt: answer in twenty words. #words=20"
WARMUP = 30
SEQUENTIAL = 300
SEQUENTIAL_STREAMS = 200
INFLIGHT = 50
SECONDS = 10.0

_SETUP = """
import os
from decimal import Decimal
from apps.accounts import services as accounts
from apps.accounts.models import Tier, User
from apps.llm import services
from apps.llm.models import LlmModel, ProviderConnection
# The bench measures the gateway, not the limiter refusing: a tier with room for 50 in flight.
Tier.objects.update_or_create(slug="bench", defaults={"name": "Bench", "position": 99, "api_rpm": 10_000_000, "chat_rpm": 10_000_000,
                                                     "chat_concurrent": 1000, "chat_tokens_per_hour": 2_000_000_000})
user = User.objects.filter(email="bench-llm@example.com").first() or User.objects.create_user(email="bench-llm@example.com", password="bench-pass-123456")
user.tier_id = "bench"; user.save(update_fields=["tier"])
provider = ProviderConnection.objects.filter(name="bench-fake").first()
url, key = os.environ["BENCH_FAKE_URL"], os.environ["BENCH_FAKE_KEY"]
if provider is None:
    provider = services.provider_create(name="bench-fake", kind="openai", base_url=url, api_key=key, timeout_seconds=30)
else:
    provider = services.provider_update(provider=provider, base_url=url, api_key=key)
if not LlmModel.objects.filter(name="bench-model").exists():
    services.model_create(name="bench-model", provider=provider, provider_model="fake-model", input_cost=Decimal(100),
                          output_cost=Decimal(400), context_window=128_000, max_output_tokens=4096)
# Every call holds and settles credits (as for any user): a balance that outlasts the run.
import uuid
from apps.billing.services import credit_grant
credit_grant(account_or_user=user, amount=10**9, reference="bench", idempotency_key="bench-" + uuid.uuid4().hex)
_key, raw = accounts.api_key_create(user=user, name="bench", scopes=["chat"])
print("KEY=" + raw)
"""

_COUNT = """
from apps.llm.models import UsageRecord
print("RECORDS=%d" % UsageRecord.objects.filter(origin="gateway").count())
print("COMPLETED=%d" % UsageRecord.objects.filter(origin="gateway", status="completed").count())
"""


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process on port {port} exited")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def _litellm_bin() -> Path:
    """The proxy's executable, installing it into its own venv the first time."""
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        subprocess.run(["python3", "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                        f"litellm[proxy]=={LITELLM_VERSION}"], check=True)
    return binary


def _litellm_installed_version() -> str:
    out = subprocess.run([str(LITELLM_VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def _start_litellm(ctx: BenchContext, fake_url: str) -> str:
    config = ctx.tmp / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        "      model: openai/fake-model\n"
        f"      api_base: {fake_url}/v1\n"
        f"      api_key: {FAKE_KEY}\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_MASTER_KEY}\n"
    )
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO"))}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False", DISABLE_SCHEMA_UPDATE="True",
               NO_DOCS="True", PYTHONUNBUFFERED="1")
    process = ctx.start_process([str(_litellm_bin()), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                                 "--num_workers", "1"], env=env, log_name="litellm")
    _wait_port(port, process, timeout=180)
    return f"http://127.0.0.1:{port}"


def _body(model: str, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 100}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def _wire_bytes(response: aiohttp.ClientResponse, body_bytes: int) -> int:
    headers = sum(len(name) + len(value) + 4 for name, value in response.raw_headers) + 17  # status line, CRLFs
    return headers + body_bytes


async def _one(session: aiohttp.ClientSession, url: str, body: dict[str, Any], *, stream: bool) -> tuple[float, float | None, int, int]:
    """(latency, time to first token, bytes received, status) of one call."""
    started = time.perf_counter()
    first: float | None = None
    received = 0
    async with session.post(url, json=body) as response:
        if stream:
            tail = b""
            async for chunk in response.content.iter_any():
                received += len(chunk)
                if first is None:
                    # Look in the whole chunk (a server that sends the reply in one write puts the first word
                    # at its start) plus the previous chunk's last bytes (the word may straddle two reads).
                    if b"w0" in tail + chunk:  # the first word of the fake's reply
                        first = time.perf_counter() - started
                    tail = chunk[-8:]
        else:
            received = len(await response.read())
        status = response.status
        size = _wire_bytes(response, received)
    return time.perf_counter() - started, first, size, status


async def _sequential(url: str, headers: dict[str, str], model: str, *, stream: bool, count: int,
                      warm: list[float] | None = None, server_pid: int | None = None) -> dict[str, Any]:
    latencies: list[float] = []
    ttfts: list[float] = []
    sizes: list[int] = []
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=1)) as session:
        for _ in range(WARMUP):
            await _one(session, url, _body(model, stream=stream), stream=stream)
        if warm is not None and server_pid:
            warm.append(_cpu_seconds(server_pid))  # the server's CPU once warm: the counted calls only
        for _ in range(count):
            latency, first, size, status = await _one(session, url, _body(model, stream=stream), stream=stream)
            latencies.append(latency)
            sizes.append(size)
            statuses[status] = statuses.get(status, 0) + 1
            if first is not None:
                ttfts.append(first)
    result: dict[str, Any] = {"latency": percentiles(latencies), "bytes_per_answer": round(sum(sizes) / len(sizes)), "statuses": statuses}
    if stream:
        result["ttft"] = percentiles(ttfts)
    return result


async def _concurrent(url: str, headers: dict[str, str], model: str, *, stream: bool, inflight: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    ttfts: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=inflight)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(_one(session, url, _body(model, stream=stream), stream=stream) for _ in range(inflight)))  # warm up
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                try:
                    latency, first, _size, status = await _one(session, url, _body(model, stream=stream), stream=stream)
                except (TimeoutError, aiohttp.ClientError):
                    statuses[0] = statuses.get(0, 0) + 1
                    continue
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(latency)
                    if first is not None:
                        ttfts.append(first)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        elapsed = time.perf_counter() - began
    result: dict[str, Any] = {("streams_per_s" if stream else "rps"): round(len(latencies) / elapsed, 1), "latency": percentiles(latencies),
                              "statuses": statuses, "inflight": inflight, "seconds": round(elapsed, 1)}
    if stream:
        result["ttft"] = percentiles(ttfts)
    return result


def _cpu_seconds(pid: int) -> float:
    """CPU (user + system) of a server process and its children (LiteLLM may serve from a worker process)."""
    import psutil

    parent = psutil.Process(pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _measure(url: str, headers: dict[str, str], model: str, *, server_pid: int | None = None) -> dict[str, Any]:
    """Every load against one target; with `server_pid`, that process's CPU per sequential request too."""
    before = _cpu_seconds(server_pid) if server_pid else 0.0
    warm: list[float] = []
    sequential = asyncio.run(_sequential(url, headers, model, stream=False, count=SEQUENTIAL, warm=warm, server_pid=server_pid))
    if server_pid:
        after = _cpu_seconds(server_pid)
        # Warm-up requests included: (WARMUP + SEQUENTIAL) requests in the interval.
        sequential["server_cpu_ms_per_request"] = round((after - before) / (WARMUP + SEQUENTIAL) * 1000, 2)
        sequential["server_cpu_ms_per_request_warm"] = round((after - warm[0]) / SEQUENTIAL * 1000, 2)
    return {
        "sequential": sequential,
        "sequential_stream": asyncio.run(_sequential(url, headers, model, stream=True, count=SEQUENTIAL_STREAMS)),
        "concurrent": _concurrent_with_cpu(url, headers, model, stream=False, server_pid=server_pid),
        "concurrent_stream": _concurrent_with_cpu(url, headers, model, stream=True, server_pid=server_pid),
    }


def _concurrent_with_cpu(url: str, headers: dict[str, str], model: str, *, stream: bool, server_pid: int | None) -> dict[str, Any]:
    """`_concurrent` at INFLIGHT; with `server_pid`, that process's CPU per answer (or stream) over the phase too."""
    before = _cpu_seconds(server_pid) if server_pid else 0.0
    figures = asyncio.run(_concurrent(url, headers, model, stream=stream, inflight=INFLIGHT, seconds=SECONDS))
    if server_pid:
        answered = sum(figures["statuses"].values())
        figures["server_cpu_ms_per_request"] = round((_cpu_seconds(server_pid) - before) / max(answered, 1) * 1000, 2)
    return figures


def _measure_floor(url: str, server_pid: int) -> dict[str, Any]:
    """A floor app's CPU per sequential call and its requests/s at 50 in flight (non-streamed only)."""
    before = _cpu_seconds(server_pid)
    warm: list[float] = []
    sequential = asyncio.run(_sequential(url, {}, MODEL, stream=False, count=SEQUENTIAL, warm=warm, server_pid=server_pid))
    sequential["server_cpu_ms_per_request"] = round((_cpu_seconds(server_pid) - before) / (WARMUP + SEQUENTIAL) * 1000, 2)
    sequential["server_cpu_ms_per_request_warm"] = round((_cpu_seconds(server_pid) - warm[0]) / SEQUENTIAL * 1000, 2)
    return {"sequential": sequential, "concurrent": _concurrent_with_cpu(url, {}, MODEL, stream=False, server_pid=server_pid)}


def _floor(ctx: BenchContext, fake_url: str) -> dict[str, Any]:
    """daphne serving one SDK call per request and nothing else (bench/gateway_floor.py), bare and on Django."""
    env = {key: value for key, value in ctx.env.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(PYTHONPATH=str(ROOT), FLOOR_URL=f"{fake_url}/v1", FLOOR_KEY=FAKE_KEY)
    out: dict[str, Any] = {}
    for name, app in (("asgi_sdk", "bench.gateway_floor:asgi_app"), ("django_sdk", "bench.gateway_floor:django_app")):
        port = free_port()
        process = ctx.start_process([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app], env=env, log_name=f"floor-{name}")
        _wait_port(port, process)
        print(f"   measuring floor {name}", flush=True)
        out[name] = _measure_floor(f"http://127.0.0.1:{port}/", process.pid)
        refused = {mode: figures["statuses"] for mode, figures in out[name].items() if set(figures["statuses"]) - {200}}
        if refused:
            raise RuntimeError(f"floor {name} did not answer 200 to every request: {refused}")
        process.terminate()
    return out


def _overhead(target: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("sequential", "sequential_stream"):
        for q in ("p50_ms", "p95_ms"):
            out[f"{mode}_{q}"] = round(target[mode]["latency"][q] - direct[mode]["latency"][q], 2)
        if mode == "sequential_stream" and "p50_ms" in target[mode]["ttft"]:  # no first token seen: see its statuses
            out["sequential_ttft_p50_ms"] = round(target[mode]["ttft"]["p50_ms"] - direct[mode]["ttft"]["p50_ms"], 2)
    return out


def run(ctx: BenchContext) -> dict[str, Any]:
    """Direct, Nexus and LiteLLM side by side; see the module docstring."""
    fake_port = free_port()
    fake = ctx.start_process([sys.executable, "-m", "tests.fakes.llm_server", "--port", str(fake_port), "--api-key", FAKE_KEY],
                             env={**ctx.env, "PYTHONPATH": str(ROOT)}, log_name="fake-llm")
    _wait_port(fake_port, fake)
    fake_url = f"http://127.0.0.1:{fake_port}"
    out = ctx.django_shell(_SETUP, BENCH_FAKE_URL=f"{fake_url}/v1", BENCH_FAKE_KEY=FAKE_KEY)
    nexus_key = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("KEY="))
    nexus_url = ctx.start_daphne()
    pids = {"nexus": ctx.processes[-1].pid}
    targets = {
        "direct": (f"{fake_url}/v1/chat/completions", {"Authorization": f"Bearer {FAKE_KEY}"}, "fake-model"),
        "nexus": (f"{nexus_url}/api/v1/openai/chat/completions", {"Authorization": f"Bearer {nexus_key}"}, MODEL),
    }
    # BENCH_SKIP_LITELLM=1 is for quick local iterations only; the reported run always has the peer.
    if not os.environ.get("BENCH_SKIP_LITELLM"):
        litellm_url = _start_litellm(ctx, fake_url)
        pids["litellm"] = ctx.processes[-1].pid
        targets["litellm"] = (f"{litellm_url}/v1/chat/completions", {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}, MODEL)
        result_version = _litellm_installed_version()
    else:
        result_version = "skipped"
    result: dict[str, Any] = {"litellm_version": result_version, "prompt": PROMPT, "inflight": INFLIGHT, "seconds_per_load": SECONDS}
    for name, (url, headers, model) in targets.items():
        print(f"   measuring {name}", flush=True)
        result[name] = _measure(url, headers, model, server_pid=pids.get(name))
        refused = {mode: figures["statuses"] for mode, figures in result[name].items() if set(figures["statuses"]) - {200}}
        if refused:  # figures of error answers would look like a fast gateway
            raise RuntimeError(f"{name} did not answer 200 to every request: {refused}")
    result["floor"] = _floor(ctx, fake_url)
    counts = dict(line.split("=", 1) for line in ctx.django_shell(_COUNT).splitlines() if "=" in line)
    result["nexus_usage_records"] = {"written": int(counts["RECORDS"]), "completed": int(counts["COMPLETED"])}

    if "litellm" not in result:
        result["overhead_vs_direct"] = {"nexus": _overhead(result["nexus"], result["direct"])}
        return result
    direct, nexus, litellm = result["direct"], result["nexus"], result["litellm"]
    result["overhead_vs_direct"] = {"nexus": _overhead(nexus, direct), "litellm": _overhead(litellm, direct)}
    rps_ratio = nexus["concurrent"]["rps"] / max(litellm["concurrent"]["rps"], 0.1)
    streams_ratio = nexus["concurrent_stream"]["streams_per_s"] / max(litellm["concurrent_stream"]["streams_per_s"], 0.1)
    result["ratios_nexus_over_litellm"] = {"rps": round(rps_ratio, 2), "streams_per_s": round(streams_ratio, 2)}
    # What the server and the SDK alone reach, against the same peer: no gateway on them can pass it.
    result["ratios_floor_over_litellm"] = {name: round(floor["concurrent"]["rps"] / max(litellm["concurrent"]["rps"], 0.1), 2)
                                           for name, floor in result["floor"].items()}
    result["targets"] = {
        "p50_overhead_ms_le_5": result["overhead_vs_direct"]["nexus"]["sequential_p50_ms"] <= 5,
        "rps_ge_5x_litellm": rps_ratio >= 5,
        "streams_ge_5x_litellm": streams_ratio >= 5,
    }
    result["table"] = _table(result)
    return result


def _table(result: dict[str, Any]) -> list[str]:
    """The figures as a Markdown table (for the notes)."""
    rows = ["| target | seq p50 ms | seq p95 ms | seq stream TTFT p50 ms | 50 in flight req/s | p95 ms | 50 streams/s | TTFT p95 ms "
            "| CPU ms per call (seq warm / 50 in flight) | bytes (json / stream) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("direct", "nexus", "litellm"):
        r = result[name]
        if not r:
            continue
        rows.append(
            f"| {name} | {r['sequential']['latency']['p50_ms']} | {r['sequential']['latency']['p95_ms']} | "
            f"{r['sequential_stream']['ttft'].get('p50_ms')} | {r['concurrent']['rps']} | {r['concurrent']['latency'].get('p95_ms')} | "
            f"{r['concurrent_stream']['streams_per_s']} | {r['concurrent_stream']['ttft'].get('p95_ms')} | {_cpu_cell(r)} | "
            f"{r['sequential']['bytes_per_answer']} / {r['sequential_stream']['bytes_per_answer']} |"
        )
    for name, r in result.get("floor", {}).items():  # non-streamed only
        rows.append(f"| floor {name} | {r['sequential']['latency']['p50_ms']} | {r['sequential']['latency']['p95_ms']} | - | "
                    f"{r['concurrent']['rps']} | {r['concurrent']['latency'].get('p95_ms')} | - | - | {_cpu_cell(r)} | "
                    f"{r['sequential']['bytes_per_answer']} / - |")
    return rows


def _cpu_cell(r: dict[str, Any]) -> str:
    warm, loaded = r["sequential"].get("server_cpu_ms_per_request_warm"), r["concurrent"].get("server_cpu_ms_per_request")
    return "-" if warm is None else f"{warm} / {loaded}"
