"""Agent discovery at 10 000 agents: `selectors.agent_discover`, the query behind `GET /api/v1/discover`.

10 000 public agents (plus private ones of other owners, which the caller must not see) with three
skills each, names and descriptions drawn from a vocabulary of skill words, tags from a tag list,
trust scores and statuses spread out; their search fields (and the vocabulary of misspelled-word
matching) are built as `services.agent_search_refresh` builds them, in bulk. Each query runs what the view runs for one page: the count
and the first 50 rows (`list(queryset[:50])`; skills are on the row). Kinds of query: full text (one
and two words), a misspelling (trigram), skill tags any / all, category + min trust + status, and
text with filters. Latency in this process (PostgreSQL round trips included, no HTTP).

Target (issue "Agents"): p95 <= 20 ms at 10 000 agents. Run: `python -m bench agents`.
Size: AGENTS_BENCH_COUNT (default 10000).
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COUNT = int(os.environ.get("AGENTS_BENCH_COUNT", "10000"))
QUERIES_PER_KIND = 60
WORDS = ("summarize translate classify extract review generate search schedule plan answer route monitor audit "
         "forecast detect label transcribe caption rank recommend negotiate book invoice reconcile draft refactor "
         "test deploy scrape parse index cluster embed compare verify moderate").split()
NOUNS = ("documents contracts emails invoices code images tickets calendars meetings receipts reports logs prices "
         "tweets papers recipes flights hotels patents resumes videos podcasts datasets metrics alerts").split()
TAGS = ("nlp vision code finance legal travel support data ops security audio search writing math health "
        "education retail hr marketing science").split()
CATEGORIES = ("writing", "code", "finance", "travel", "support", "data", "media", "ops")


def run(ctx: Any) -> dict[str, Any]:
    """Load the agents and measure in a Django child process on the bench database."""
    completed = subprocess.run([sys.executable, "-m", "bench.bench_agents"], cwd=ROOT, env=ctx.env, capture_output=True, text=True,
                               timeout=3600)
    if completed.returncode != 0:
        raise RuntimeError(f"agents bench child failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["targets"] = {"p95_ms": "<= 20"}
    return result


def _load(rng: random.Random) -> Any:
    from django.contrib.postgres.search import SearchVector
    from django.db import connection

    from apps.accounts.models import User
    from apps.agents.models import Agent, Skill

    def user(email: str) -> Any:
        return User.objects.filter(email=email).first() or User.objects.create_user(email=email, password="bench-pass-123456")

    caller, owners = user("agents-bench@example.com"), [user(f"agents-owner-{n}@example.com") for n in range(20)]
    Agent.objects.filter(owner__in=[caller, *owners]).delete()
    agents, skills = [], []
    for n in range(COUNT + COUNT // 10):
        verb, noun = rng.choice(WORDS), rng.choice(NOUNS)
        tags = rng.sample(TAGS, 2)
        agent = Agent(owner=rng.choice(owners), name=f"{verb.title()} {noun} {n}", description=f"Agent that can {verb} {noun} "
                      f"and {rng.choice(WORDS)} {rng.choice(NOUNS)} quickly.", endpoint="https://agents.example.com/a2a",
                      category=rng.choice(CATEGORIES), tags=[tags[0]], trust_score=round(rng.uniform(10, 95), 1),
                      status=rng.choice(("online", "online", "offline", "degraded")),
                      visibility="public" if n < COUNT else "private")
        agents.append(agent)
        for index in range(3):
            skill_verb = rng.choice(WORDS)
            skills.append(Skill(agent=agent, skill_id=f"{skill_verb}-{index}", name=skill_verb.title(), order=index,
                                description=f"{skill_verb} {rng.choice(NOUNS)}", tags=[rng.choice(TAGS), tags[1]]))
    Agent.objects.bulk_create(agents, batch_size=2000)
    Skill.objects.bulk_create(skills, batch_size=5000)
    ids = [a.pk for a in agents]
    with connection.cursor() as cursor:
        # The same fields services.agent_search_refresh writes, for every agent in one statement.
        cursor.execute("""
            UPDATE agents_agent a SET
              skill_tags = (SELECT array_agg(DISTINCT t) FROM (SELECT unnest(a.tags) t UNION SELECT unnest(s.tags) FROM agents_skill s
                                                                  WHERE s.agent_id = a.id) x),
              skills_summary = coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.skill_id, 'name', s.name, 'description', s.description,
                                   'tags', to_jsonb(s.tags), 'input_schema', s.input_schema, 'output_schema', s.output_schema) ORDER BY s."order")
                                 FROM agents_skill s WHERE s.agent_id = a.id), '[]'::jsonb),
              search_text = a.name || ' ' || a.description || ' ' || a.category || ' ' || array_to_string(a.tags, ' ') || ' ' ||
                 coalesce((SELECT string_agg(s.name || ' ' || s.description || ' ' || array_to_string(s.tags, ' '), ' ')
                           FROM agents_skill s WHERE s.agent_id = a.id), '')
            WHERE a.id = ANY(%s)""", [ids])
    Agent.objects.filter(pk__in=ids).update(
        search_vector=SearchVector("name", weight="A", config="english") + SearchVector("search_text", weight="B", config="english"))
    from apps.agents.services import search_terms_add

    search_terms_add(text=" ".join(Agent.objects.filter(pk__in=ids).values_list("search_text", flat=True)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE agents_agent; ANALYZE agents_skill; ANALYZE agents_searchterm")
    return caller


def _kinds(rng: random.Random) -> dict[str, Any]:
    return {
        "text_one_word": lambda: {"query": rng.choice(WORDS)},
        "text_two_words": lambda: {"query": f"{rng.choice(WORDS)} {rng.choice(NOUNS)}"},
        "text_misspelled": lambda: {"query": rng.choice(WORDS)[:-1] + "x"},
        "tags_any": lambda: {"skill_tags": rng.sample(TAGS, 2)},
        "tags_all": lambda: {"skill_tags": rng.sample(TAGS, 2), "match_all": True},
        "filters": lambda: {"category": rng.choice(CATEGORIES), "min_trust_score": 60.0, "status": "online"},
        "no_filter": lambda: {},
        "text_and_filters": lambda: {"query": rng.choice(WORDS), "skill_tags": [rng.choice(TAGS)], "min_trust_score": 40.0},
    }


def child() -> None:
    """Set Django up on the bench database and print one JSON line of results."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from apps.agents.selectors import agent_discover
    from bench.harness import percentiles

    rng = random.Random(17)
    started = time.perf_counter()
    caller = _load(rng)
    load_seconds = time.perf_counter() - started
    result: dict[str, Any] = {"agents_public": COUNT, "agents_private": COUNT // 10, "load_seconds": round(load_seconds, 1), "kinds": {}}
    everything: list[float] = []
    from django.db import connection

    sql_seconds: list[float] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_seconds.append(time.perf_counter() - began)

    for name, make in _kinds(rng).items():
        samples, hits, in_sql, statements = [], [], [], []
        for attempt in range(QUERIES_PER_KIND + 5):
            args = make()
            sql_seconds.clear()
            began = time.perf_counter()
            with connection.execute_wrapper(timed):
                queryset = agent_discover(user=caller, **args)
                count = queryset.count()
                page = list(queryset[:50])
            elapsed = time.perf_counter() - began
            in_sql.append(sum(sql_seconds))
            statements.append(len(sql_seconds))
            if attempt >= 5:  # the first few warm the caches
                samples.append(elapsed)
                hits.append(count)
            assert all(a.visibility == "public" for a in page)
        plan = agent_discover(user=caller, **args)[:50].explain(analyze=True)
        database_ms = [line.split(":")[1].strip() for line in plan.splitlines() if line.startswith("Execution Time")]
        result["kinds"][name] = {**percentiles(samples), "median_matches": sorted(hits)[len(hits) // 2],
                                 "sql_round_trips": max(statements), "median_ms_in_sql": round(sorted(in_sql)[len(in_sql) // 2] * 1000, 3),
                                 "page_query_execution": database_ms[0] if database_ms else None}
        if os.environ.get("AGENTS_BENCH_PLANS"):
            result["kinds"][name]["plan"] = plan
        everything.extend(samples)
    result["all"] = percentiles(everything)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    child()
