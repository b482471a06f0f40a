"""`python -m bench.rego write OUT [--policies DIR]` and `python -m bench.rego ab OUT...`: the
Rego's own cost (`opa eval --profile`, `opa bench`), without HTTP or Giru's client.

Writes `OUT/bundle.tar.gz` (bench.policy's configuration: packs core, pci_dss, hipaa, soc2 in
one binding, compiled over the policy modules of DIR, default the shipped `policies/`) and
`OUT/<name>.json` for each input of bench.policy (the documents `PolicyEngine.input_for`
builds) plus `visible.json`, the `visible` query over bench.policy's 100 tools, one item per
tool. `ab` compares such OUTs (two policy directories, plus an A/A copy): `opa bench` of each
bundle in turn, ROUNDS times, on the first OUT's input, printing per round the load average and
per bundle the median and minimum evaluation time and the allocations per evaluation (the
allocations do not depend on the machine's load; the times do).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import orjson

from bench.policy import INPUTS, engine_for, load_config, routes
from giru.policy import find_opa
from giru.policy.bundle import read_sources

__all__ = ["main", "write"]

NAMES = {
    "small tools/call": "small",
    "PHI (hipaa)": "phi",
    "PCI, 16-digit PAN": "pci",
    "PCI, amount and order (no PAN)": "pci_nopan",
}


def write(out: Path, policies: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="giru-rego-") as temp:
        config = load_config(Path(temp))
        engine = engine_for("http://127.0.0.1:9", config, find_opa())
        if policies is not None:
            engine.sources = read_sources([policies])
            engine.reload(config)
        assert engine.bundle is not None
        (out / "bundle.tar.gz").write_bytes(engine.bundle.archive)
        for label, call in INPUTS.items():
            (out / f"{NAMES[label]}.json").write_bytes(orjson.dumps(engine.input_for(call)))
        facts = engine._facts
        items = [
            {
                "server": server,
                "virtual_server": None,
                "tool": facts.tool(server, tool),
                "binding": facts.table.key(server, None, None),
                "key": name,
            }
            for name, server, tool in routes()
        ]
        listing = facts.listing(INPUTS["small tools/call"])
        (out / "visible.json").write_bytes(orjson.dumps({**listing, "tools": items}))
        if engine.client is not None:
            engine.client.close()


def bench(bundle: Path, document: Path, query: str) -> str:
    """One `opa bench` run: median and minimum eval µs, allocations per evaluation."""
    argv = [str(find_opa()), "bench", "-b", str(bundle), "-i", str(document)]
    argv += ["--count", "1", "--format", "json", query]
    found = orjson.loads(subprocess.run(argv, capture_output=True, check=True).stdout)
    extra = found["Extra"]
    median = extra["histogram_timer_rego_query_eval_ns_median"] / 1000
    least = extra["histogram_timer_rego_query_eval_ns_min"] / 1000
    return f"med {median:.0f} min {least:.0f} µs allocs {found['MemAllocs'] // found['N']}"


def alternate(outs: list[Path], query: str, name: str, rounds: int) -> None:
    for round_ in range(1, rounds + 1):
        load = os.getloadavg()[0]
        cells = [
            f"{out.name}: {bench(out / 'bundle.tar.gz', outs[0] / name, query)}" for out in outs
        ]
        print(f"round {round_} load {load:.2f} | " + " | ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    writing = commands.add_parser("write")
    writing.add_argument("out", type=Path)
    writing.add_argument("--policies", type=Path, default=None)
    ab = commands.add_parser("ab")
    ab.add_argument("outs", type=Path, nargs="+")
    ab.add_argument("--query", default="data.giru.decision.result")
    ab.add_argument("--input", default="pci.json")
    ab.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.out, args.policies)
    else:
        alternate(args.outs, args.query, args.input, args.rounds)


if __name__ == "__main__":
    main()
