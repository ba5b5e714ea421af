"""`make chaos`: kill workers and web processes mid-job, restart Redis and PostgreSQL under load, break the provider.

Everything runs for real on loopback: a private embedded PostgreSQL and Redis, daphne, Celery
workers, a reaper loop (what beat runs, every second), and the fake provider. Then it checks that
nothing was lost or charged twice, and prints the figures (also in bench/results/chaos.json):

1. kills: `KILLS` SIGKILLs at random moments while document ingestion, chain executions and chat
   replies run: a worker's pool process (Celery replaces it), a whole worker (every 10th), or the
   web process generating chat replies (every 5th). Afterwards every job must end completed or
   failed (none stuck), every credit hold settled or released exactly once, the ledger must add
   up, and no requeued job charged twice (one completed usage record per chain prompt, one charge
   per hold, one chunk set per document).
2. redis / postgres: closed-loop API load while the service is stopped for a few seconds and
   started again: no 500, no hang, 503 SERVICE_UNAVAILABLE while it is down, and the seconds until
   the API answers again once it is back (target <= 5 s), without restarting any process.
3. provider faults: a hang, a reset mid-stream, a 500, and broken JSON mid-stream: each chat gets
   an `error` event, its hold is released or settled, and the next call works.

Run: `make chaos` or `python -m bench.chaos [--kills N]`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.harness import BenchContext, Services, write_result

FAKE_KEY = "chaos-fake-key"
# Fast reapers and leases, so a killed job is picked up within seconds instead of minutes.
FAST_RECOVERY = {
    "ARCHITECT_HEARTBEAT_SECONDS": "0.3", "ARCHITECT_STALE_SECONDS": "2", "ARCHITECT_MAX_ATTEMPTS": "50",
    "KNOWLEDGE_INGEST_STALE_SECONDS": "2", "KNOWLEDGE_INGEST_MAX_ATTEMPTS": "50", "CHAT_ORPHAN_SECONDS": "3",
    "LOG_LEVEL": "ERROR",
}
REAPER = """
import time, django
django.setup()
from django.db import close_old_connections
from apps.architect.services import execution_reap_stale
from apps.chat.services import reply_orphans_reap
from apps.knowledge.services import documents_reap_stuck
while True:
    close_old_connections()  # what Celery does around each beat task: drop a connection PostgreSQL closed
    for reap in (execution_reap_stale, documents_reap_stuck, reply_orphans_reap):
        try:
            reap()
        except Exception as exc:
            print("reaper:", type(exc).__name__, exc, flush=True)
    time.sleep(1)
"""
SETUP = """
from decimal import Decimal
from apps.accounts.models import Tier
from apps.accounts import services as accounts
from apps.billing import services as billing
from apps.llm import services as llm
from apps.llm.models import ProviderConnection
from apps.architect import services as architect
from apps.knowledge import services as knowledge
from django.contrib.auth import get_user_model
Tier.objects.update(api_rpm=10**7, chat_rpm=10**7, architect_rpm=10**7, upload_rpm=10**7, chat_concurrent=10**4,
                    architect_concurrent=10**4, architect_prompts_per_hour=10**9, chat_tokens_per_hour=2 * 10**9)
provider = ProviderConnection.objects.filter(name="chaos-fake").first() or llm.provider_create(
    name="chaos-fake", kind="openai", base_url="{fake}/v1", api_key="{key}", timeout_seconds=4)
if not provider.models.exists():
    llm.model_create(name="chaos-model", provider=provider, provider_model="fake-model", capabilities=["chat"],
                     input_cost=Decimal("1"), output_cost=Decimal("2"), context_window=100000, max_output_tokens=400, tiers=[])
User = get_user_model()
user = User.objects.filter(email="chaos@example.com").first() or User.objects.create_user(email="chaos@example.com", password="chaos-pass-123456")
billing.credit_grant(account_or_user=user, amount=100000, reference="chaos", idempotency_key="chaos-grant")
_key, raw = accounts.api_key_create(user=user, name="chaos", scopes=["*"])
tool = architect.tool_create(user=user, name="chaos chain", status="published", input_fields=[{{"name": "topic"}}], prompts=[
    {{"name": "a", "position": 1, "model_id": "chaos-model", "content": "{{{{topic}}}} #words=30 #slow=0.02"}},
    {{"name": "b", "position": 2, "model_id": "chaos-model", "content": "{{{{a}}}} #words=30 #slow=0.02"}},
    {{"name": "c", "position": 3, "model_id": "chaos-model", "content": "{{{{b}}}} #words=30 #slow=0.02"}}])
repository = knowledge.repository_create(user=user, name="chaos")
print("KEY=" + raw)
print("TOOL=" + str(tool.pk))
print("REPO=" + str(repository.pk))
"""
CHECK = """
import json
from collections import Counter
from decimal import Decimal
from django.db.models import Count, Sum
from apps.architect.models import Execution, PromptResult
from apps.billing.models import CreditAccount, CreditReservation, CreditTransaction
from apps.chat.models import Message
from apps.knowledge.models import Chunk, Document
from apps.llm.models import UsageRecord
out = {}
out["executions"] = dict(Counter(Execution.objects.values_list("status", flat=True)))
out["documents"] = dict(Counter(Document.objects.values_list("status", flat=True)))
out["replies"] = dict(Counter(Message.objects.filter(role="assistant").values_list("status", flat=True)))
out["reservations"] = dict(Counter(CreditReservation.objects.values_list("status", flat=True)))
dup = 0
# One completed provider call per chain prompt, however often its execution was re-run.
for row in PromptResult.objects.filter(status="completed").values("execution_id", "prompt_id"):
    prefix = "architect." + str(row["execution_id"]) + "." + str(row["prompt_id"]) + "."
    if UsageRecord.objects.filter(request_id__startswith=prefix, status="completed").count() > 1:
        dup += 1
out["duplicate_prompt_runs"] = dup
# One charge per hold: as many usage rows on the ledger as holds settled with a charge, one per hold.
charged = set(str(pk) for pk in CreditReservation.objects.filter(status="settled", charged__gt=0).values_list("pk", flat=True))
rows = Counter(CreditTransaction.objects.filter(type="usage", metadata__has_key="reservation_id").values_list("metadata__reservation_id", flat=True))
out["settled_with_charge"] = len(charged)
out["settle_transactions"] = sum(rows.values())
out["duplicate_charges"] = sum(n - 1 for n in rows.values() if n > 1)
out["missing_charges"] = len(charged - set(rows))
# One chunk set per document.
out["duplicate_chunks"] = Chunk.objects.values("document_id", "position").annotate(n=Count("id")).filter(n__gt=1).count()
ledger = []
for account in CreditAccount.objects.all():
    last = account.transactions.order_by("-created_at").first()
    held = CreditReservation.objects.filter(account=account, status="held").aggregate(s=Sum("amount"))["s"] or Decimal(0)
    ok = (last is None or last.balance_after == account.balance) and held == account.held
    ledger.append(ok)
out["ledger_accounts_checked"] = len(ledger)
out["ledger_mismatches"] = ledger.count(False)
print("RESULT=" + json.dumps(out))
"""


def _shell(ctx: BenchContext, code: str, prefix: str) -> str:
    for line in ctx.django_shell(code).splitlines():
        if line.startswith(prefix):
            return line[len(prefix):]
    raise RuntimeError(f"no {prefix} line")


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(item) for item in found]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


class Load:
    """Jobs submitted over HTTP while processes are being killed."""

    def __init__(self, url: Callable[[], str], key: str, tool: str, repository: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}"}
        self.tool = tool
        self.repository = repository
        self.submitted = {"executions": 0, "documents": 0, "chats": 0}
        self.refused: dict[str, int] = {}
        self.errors: list[str] = []

    def _count(self, kind: str, status: int, body: str = "") -> None:
        if status < 300:
            self.submitted[kind] += 1
        else:
            self.refused[f"{kind}:{status}"] = self.refused.get(f"{kind}:{status}", 0) + 1
            if status >= 500:
                self.errors.append(f"{kind} {status}: {body[:300]}")

    def execution(self, client: httpx.Client) -> None:
        with client.stream("POST", f"{self.url()}/api/v1/architect/execute", headers={**self.headers, "Accept": "text/event-stream"},
                           json={"tool_id": self.tool, "inputs": {"topic": "chaos"}}) as response:
            # The run goes on without its reader; an error answer is read for the report.
            self._count("executions", response.status_code, response.read().decode(errors="replace") if response.status_code >= 300 else "")

    def document(self, client: httpx.Client, n: int) -> None:
        text = " ".join(f"Paragraph {n}.{i}: the chaos harness writes plain text for ingestion." for i in range(40))
        response = client.post(f"{self.url()}/api/v1/knowledge/{self.repository}/documents", headers=self.headers,
                               files={"file": (f"chaos-{n}.txt", text.encode(), "text/plain")})
        self._count("documents", response.status_code, response.text)

    def chat(self, client: httpx.Client) -> None:
        body = {"messages": [{"role": "user", "content": "Tell me a long story #words=80 #slow=0.03"}], "model_id": "chaos-model"}
        with client.stream("POST", f"{self.url()}/api/v1/chat", headers={**self.headers, "Accept": "text/event-stream"},
                           json=body) as response:
            self._count("chats", response.status_code, response.read().decode(errors="replace") if response.status_code >= 300 else "")


def phase_kills(ctx: BenchContext, env: dict[str, str], ids: dict[str, str], kills: int) -> dict[str, Any]:
    """SIGKILL pool processes, workers and the web process at random moments while jobs run."""
    rng = random.Random(20261204)
    state = {"url": ctx.start_daphne(**env)}
    daphne = ctx.processes[-1]
    worker = ctx.start_worker(concurrency=2, **env)
    load = Load(lambda: state["url"], ids["KEY"], ids["TOOL"], ids["REPO"])
    counts = {"pool_process": 0, "worker": 0, "web": 0}
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        for n in range(kills):
            for submit in (lambda: load.execution(client), lambda n=n: load.document(client, n), lambda: load.chat(client)):
                try:
                    submit()
                except httpx.HTTPError:
                    load.refused["transport"] = load.refused.get("transport", 0) + 1
            time.sleep(rng.uniform(0.2, 1.2))
            if n % 5 == 4:
                _kill_group(daphne)  # chat replies die with it; the reaper ends and charges them
                counts["web"] += 1
                state["url"] = ctx.start_daphne(**env)
                daphne = ctx.processes[-1]
            elif n % 10 == 7 or not _children(worker.pid):
                _kill_group(worker)
                counts["worker"] += 1
                worker = ctx.start_worker(concurrency=2, **env)
            else:
                victim = rng.choice(_children(worker.pid))
                os.kill(victim, signal.SIGKILL)
                counts["pool_process"] += 1
    kill_seconds = time.monotonic() - started
    # Let every job reach its end: the worker finishes or re-runs what was interrupted, reapers end the
    # rest. A backlog drains at the worker's pace: wait while anything still moves (at most 15 min);
    # what has not moved for 90 s is stuck.
    last_change, previous = time.monotonic(), None
    while True:
        status = json.loads(_shell(ctx, CHECK, "RESULT="))
        busy = (status["executions"].get("running", 0) + status["executions"].get("pending", 0)
                + status["documents"].get("processing", 0) + status["documents"].get("pending", 0)
                + status["replies"].get("streaming", 0) + status["reservations"].get("held", 0))
        snapshot = json.dumps([status["executions"], status["documents"], status["replies"], status["reservations"]], sort_keys=True)
        if snapshot != previous:
            previous, last_change = snapshot, time.monotonic()
        if busy == 0 or time.monotonic() - last_change > 90 or time.monotonic() - started - kill_seconds > 900:
            break
        time.sleep(3)
    return {"kills": counts, "kills_total": sum(counts.values()), "kill_phase_seconds": round(kill_seconds, 1),
            "settle_wait_seconds": round(time.monotonic() - started - kill_seconds, 1), "submitted": load.submitted,
            "refused": load.refused, "server_errors": load.errors[:10], "server_tracebacks": _tracebacks(ctx)[:5],
            "end_state": status, "stuck_jobs": busy}


def _tracebacks(ctx: BenchContext) -> list[str]:
    """The last lines of each traceback the web processes logged (what a 5xx came from)."""
    found: list[str] = []
    for log in sorted(ctx.tmp.glob("daphne-*.log")):
        lines = log.read_text(errors="replace").splitlines()
        for index, line in enumerate(lines):
            if line.startswith("Traceback"):
                end = next((i for i in range(index + 1, len(lines)) if not lines[i].startswith((" ", "Traceback", "\t"))), len(lines) - 1)
                found.append(" | ".join(lines[max(0, index - 1):index + 1] + lines[end - 2:end + 1])[:600])
    return found


async def _outage_load(url: str, key: str, seconds: float, stop_at: float, start_at: float,
                       stop: Callable[[], None], start: Callable[[], None]) -> dict[str, Any]:
    """Closed-loop API calls (a read and a chat) while a service is stopped at `stop_at` and started at `start_at`."""
    import aiohttp

    headers = {"Authorization": f"Bearer {key}"}
    samples: list[tuple[float, str, int, float]] = []
    began = time.monotonic()
    marks: dict[str, float] = {}

    async def one(session: aiohttp.ClientSession, kind: str) -> None:
        t0 = time.monotonic()
        try:
            if kind == "read":
                async with session.get(f"{url}/api/v1/conversations", headers=headers) as response:
                    await response.read()
                    status = response.status
            else:
                body = {"messages": [{"role": "user", "content": "hi #words=5"}], "model_id": "chaos-model"}
                async with session.post(f"{url}/api/v1/chat", json=body, headers={**headers, "Accept": "text/event-stream"}) as response:
                    text = (await response.read()).decode(errors="replace")
                    status = response.status
                    if status == 200 and '"type":"finish"' not in text.replace(" ", ""):
                        status = 299  # streamed, but ended with an error event (resumable), not a finish
        except TimeoutError:
            status = -1  # a hang
        except aiohttp.ClientError:
            status = -2
        samples.append((t0 - began, kind, status, time.monotonic() - t0))

    async def driver(kind: str) -> None:
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while time.monotonic() - began < seconds:
                await one(session, kind)
                await asyncio.sleep(0.05)

    async def operator() -> None:
        await asyncio.sleep(stop_at)
        await asyncio.to_thread(stop)
        marks["stopped"] = time.monotonic() - began
        await asyncio.sleep(max(0.0, start_at - stop_at))
        await asyncio.to_thread(start)
        marks["started"] = time.monotonic() - began

    await asyncio.gather(operator(), *(driver(kind) for kind in ("read", "read", "chat", "chat")))
    down = [s for s in samples if marks["stopped"] <= s[0] < marks["started"]]
    after = sorted((s for s in samples if s[0] >= marks["started"]), key=lambda s: s[0])
    # Recovered: every kind of call has succeeded again (its answer came back), counted from Redis/PostgreSQL being back.
    first_ok = {kind: min((s[0] + s[3] for s in after if s[1] == kind and s[2] == 200), default=None) for kind in ("read", "chat")}
    recovered = None if None in first_ok.values() else max(v for v in first_ok.values() if v is not None) - marks["started"]
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[str(s[2])] = statuses.get(str(s[2]), 0) + 1
    return {"requests": len(samples), "statuses": statuses, "server_errors_500": sum(1 for s in samples if s[2] >= 500 and s[2] != 503),
            "hangs": sum(1 for s in samples if s[2] == -1 or s[3] > 10), "while_down": len(down),
            "while_down_503": sum(1 for s in down if s[2] == 503),
            "down_seconds": round(marks["started"] - marks["stopped"], 2),
            "recovered_after_back_s": round(max(0.0, recovered), 2) if recovered is not None else None,
            "max_latency_s": round(max((s[3] for s in samples), default=0), 2)}


def phase_outage(ctx: BenchContext, env: dict[str, str], key: str, service: Any, name: str, down: float) -> dict[str, Any]:
    """Stop `service` (the bench's own Redis or PostgreSQL) for `down` seconds under load, then start it again."""
    url = ctx.start_daphne(**env)
    ctx.start_worker(concurrency=1, **env)
    result = asyncio.run(_outage_load(url, key, seconds=down + 12, stop_at=4, start_at=4 + down, stop=service.stop, start=service.start))
    ctx.stop_all()
    return {"service": name, **result}


def phase_provider_faults(ctx: BenchContext, env: dict[str, str], key: str) -> dict[str, Any]:
    """A chat per provider fault: its error event, its hold released or settled, and a working call after it."""
    url = ctx.start_daphne(**env)
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    faults = {"hang": "#hang", "reset_mid_stream": "#early-close-after=3", "http_500": "#fail=500",
              "invalid_json_mid_stream": "#malformed-after=3", "hang_mid_stream": "#hang-after=3"}
    results: dict[str, Any] = {}
    with httpx.Client(timeout=30) as client:
        for name, directive in faults.items():
            t0 = time.monotonic()
            body = {"messages": [{"role": "user", "content": f"fault {directive} #words=20"}], "model_id": "chaos-model"}
            events: list[dict[str, Any]] = []
            with client.stream("POST", f"{url}/api/v1/chat", headers=headers, json=body) as response:
                message_id = response.headers.get("x-message-id", "")
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        events.append(json.loads(line[5:]))
            last = events[-1] if events else {}
            after = client.post(f"{url}/api/v1/chat", headers=headers,
                                json={"messages": [{"role": "user", "content": "fine #words=3"}], "model_id": "chaos-model"})
            results[name] = {"status": response.status_code, "last_event": last.get("type"),
                             "error_code": (last.get("error") or {}).get("code"), "seconds": round(time.monotonic() - t0, 2),
                             "message_id": message_id, "next_call_ok": after.status_code == 200 and '"finish"' in after.text}
    holds = json.loads(_shell(ctx, """
import json
from apps.billing.models import CreditReservation
print("RESULT=" + json.dumps({m: CreditReservation.objects.filter(idempotency_key="chat-reserve:" + m).values_list("status", flat=True).first()
                              for m in %r}))
""" % [r["message_id"] for r in results.values()], "RESULT="))
    for item in results.values():
        item["hold"] = holds.get(item.pop("message_id"))
    ctx.stop_all()
    return results


def main(argv: list[str]) -> int:
    """Run every phase, print the figures, save them; exit 1 when a promise was broken."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--down", type=float, default=8.0, help="seconds Redis and PostgreSQL stay down")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {}
    with Services() as services:
        if len(services.started) < 2:
            print("make chaos restarts its own PostgreSQL and Redis: unset DATABASE_URL and REDIS_URL.")
            return 2
        postgres, redis = services.started
        # The fake provider and the reaper loop live through every phase; each phase's web and
        # worker processes are started and stopped by the phase.
        aux = BenchContext(tmp=services.tmp, env=dict(services.env))
        ctx = BenchContext(tmp=services.tmp, env=dict(services.env))
        try:
            fake = aux.start_fake_llm(FAKE_KEY)
            env = {**FAST_RECOVERY}
            ids = dict(line.split("=", 1) for line in ctx.django_shell(SETUP.format(fake=fake, key=FAKE_KEY)).splitlines()
                       if line[:4] in ("KEY=", "TOOL", "REPO"))
            aux.start_process([sys.executable, "-c", REAPER], env={**aux.env, **env}, log_name="reaper")
            print("== kills", flush=True)
            result["kills"] = phase_kills(ctx, env, ids, args.kills)
            print(json.dumps(result["kills"], indent=2), flush=True)
            ctx.stop_all()
            print("== redis restart", flush=True)
            result["redis_restart"] = phase_outage(ctx, env, ids["KEY"], redis, "redis", args.down)
            print(json.dumps(result["redis_restart"], indent=2), flush=True)
            print("== postgres restart", flush=True)
            result["postgres_restart"] = phase_outage(ctx, env, ids["KEY"], postgres, "postgres", args.down)
            print(json.dumps(result["postgres_restart"], indent=2), flush=True)
            print("== provider faults", flush=True)
            result["provider_faults"] = phase_provider_faults(ctx, env, ids["KEY"])
            print(json.dumps(result["provider_faults"], indent=2), flush=True)
        finally:
            ctx.stop_all()
            aux.stop_all()
    end = result["kills"]["end_state"]
    broken = {
        "stuck_jobs": result["kills"]["stuck_jobs"],
        "duplicates": end["duplicate_prompt_runs"] + end["duplicate_charges"] + end["duplicate_chunks"],
        "missing_charges": end["missing_charges"],
        "ledger_mismatches": end["ledger_mismatches"],
        "500s_or_hangs": sum(result[p]["server_errors_500"] + result[p]["hangs"] for p in ("redis_restart", "postgres_restart")),
        "slow_recoveries": sum(1 for p in ("redis_restart", "postgres_restart")
                               if result[p]["recovered_after_back_s"] is None or result[p]["recovered_after_back_s"] > 5),
        "provider_faults_not_handled": sum(1 for r in result["provider_faults"].values()
                                           if r["last_event"] != "error" or not r["next_call_ok"] or r["hold"] == "held"),
    }
    result["broken_promises"] = broken
    path = write_result("chaos", result)
    print(f"kills {result['kills']['kills_total']}, restarts 2, jobs checked "
          f"{sum(end['executions'].values()) + sum(end['documents'].values()) + sum(end['replies'].values())}, holds settled "
          f"{sum(v for k, v in end['reservations'].items() if k != 'held')}, duplicates found {broken['duplicates']}")
    print(f"broken promises: {broken}\n-> {path}")
    return 1 if any(broken.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
