"""The policy decision point: one OPA query per governed MCP request, fail-closed.

`PolicyEngine` owns the OPA connection (a managed child in embedded mode, an external URL in
production), the bundle OPA pulls from Giru (`bundle`), and what a decision needs from the
configuration (tool tags and sensitivity, client claims, subscriptions, pack bindings: the
`Facts` of giru.policy.inputs, which builds the input document of docs/policies/input.md). It
turns OPA's answer into a `Decision`; when OPA cannot answer, the decision is a denial with
`unavailable` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import orjson
import structlog

from giru.errors import ConfigError, PolicyUnavailableError
from giru.manifests.config import Config
from giru.policy.bundle import CHECKOUT, Bundle, PolicySources, build_bundle, read_sources
from giru.policy.fast_path import DecisionCache, Querier, decision_key, fast_result
from giru.policy.inputs import Call, compile_facts
from giru.policy.metrics import PolicyMetrics
from giru.policy.opa import OpaChild, OpaClient
from giru.policy.replay import Recorded, replay
from giru.policy.shapes import recorded_input
from giru.policy.visibility import (
    NamePlan,
    Same,
    ToolClasses,
    VisibilityCache,
    name_plan,
    tool_classes,
    visible_by_class,
)
from giru.policy.wasm import WasmEvaluator

__all__ = ["OPA_INSTALL_HINT", "Decision", "PolicyEngine", "find_opa"]

_log = structlog.get_logger(__name__)
OPA_INSTALL_HINT: Final = (
    "set GIRU_POLICY__OPA_BINARY, run `make peers` (installs .tools/bin/opa), or put opa on PATH"
)
_WATCH_S: Final = 1.0
_VISIBLE_TTL_S: Final = 60.0
"""Time-dependent rules (access hours) change what a list shows within this long."""
_DECISION: Final = "giru/decision/result"
_TOOL_NAMES: Final = "giru/decision/tool_names_by_binding"


@dataclass(frozen=True, slots=True)
class Decision:
    allow: bool
    deny: tuple[Mapping[str, Any], ...] = ()
    redact: tuple[Mapping[str, Any], ...] = ()
    audit: Mapping[str, Any] = field(default_factory=dict)
    alerts: tuple[Mapping[str, Any], ...] = ()
    revision: str | None = None
    approve: tuple[Mapping[str, Any], ...] = ()
    """Rules that hold an allowed call until a person approves it (giru.proxy.consent)."""
    recorded: Mapping[str, Any] | None = None
    """The input document without argument values, for the audit log (giru.policy.shapes)."""
    unavailable: str | None = None
    """Why OPA gave no answer (the call is denied), else None."""

    @property
    def reasons(self) -> list[str]:
        if self.unavailable is not None:
            return [self.unavailable]
        return [str(reason.get("message", "")) for reason in self.deny]


def find_opa(configured: Path | None = None) -> Path:
    """The opa executable: the setting, else `.tools/bin/opa` of this checkout (what `make peers`
    installs), else `opa` on PATH; `ConfigError` saying how to get one when there is none."""
    if configured is not None:
        if not (configured.is_file() and os.access(configured, os.X_OK)):
            raise ConfigError(f"policy.opa_binary {configured}: not an executable file")
        return configured
    local = CHECKOUT / ".tools" / "bin" / "opa"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("opa")
    if found is None:
        raise ConfigError(f"opa not found: {OPA_INSTALL_HINT}")
    return Path(found)


class PolicyEngine:
    def __init__(
        self,
        directories: Sequence[Path],
        *,
        opa_url: str | None,
        opa_binary: Path | None,
        bundle_url: str,
        timeout_s: float,
        workdir: Path | None = None,
        fast_path: bool = True,
        metrics: PolicyMetrics | None = None,
        evaluator: Literal["opa", "wasm"] = "opa",
    ) -> None:
        self.directories = tuple(directories)
        self.metrics = metrics if metrics is not None else PolicyMetrics()
        self.external = opa_url is not None
        self._missing = ""
        try:
            self._binary: Path | None = find_opa(opa_binary)
        except ConfigError as exc:
            self._binary, self._missing = None, exc.message
        self._bundle_url = bundle_url
        self._timeout_s = timeout_s
        self._workdir = workdir
        self._own_workdir = False
        self._child: OpaChild | None = None
        self._seen_restarts = 0
        """OPA restarts already accounted for: a restarted OPA's answers start afresh."""
        self.client: OpaClient | None = OpaClient(opa_url, timeout_s=timeout_s) if opa_url else None
        self.bundle_token: str | None = None
        self.sources = PolicySources({}, frozenset(), {})
        self.bundle: Bundle | None = None
        self.active_revision: str | None = None
        self.last_error: str | None = None
        self._facts = compile_facts(Config(), self.sources)
        self._config = Config()
        self._signature: tuple[tuple[str, int, int], ...] = ()
        self.visibility = VisibilityCache(_VISIBLE_TTL_S, count=self.metrics.listed)
        self.fast_path = fast_path
        """Decide from what cannot change when the packs say so (giru.policy.fast_path)."""
        self.decisions = DecisionCache()
        self.metrics.watch(self.decisions)
        self.wasm: WasmEvaluator | None = None
        """Decides calls in process when `evaluator` is "wasm" (giru.policy.wasm); OPA still
        answers tools/list visibility, `giru policy eval` and replays."""
        if evaluator == "wasm":
            self.wasm = WasmEvaluator(self._binary, timeout_s=timeout_s, on_active=self._forget)
        self._tasks: list[asyncio.Task[None]] = []
        self.changed = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, config: Config) -> None:
        """Load the policy directories, build the first bundle, start or reach OPA."""
        self._config = config
        await self._load_sources(initial=True)
        if self.client is None:
            if self._binary is None:
                self.last_error = f"{self._missing}; every call is denied"
                _log.error("policy_engine_unavailable", reason=self.last_error)
            else:
                if self._workdir is None:
                    self._workdir = Path(tempfile.mkdtemp(prefix="giru-opa-"))
                    self._own_workdir = True
                self._child = OpaChild(self._binary, self._workdir, self._bundle_url)
                self.bundle_token = self._child.token
                await self._child.start()
                self.client = OpaClient(self._child.url, timeout_s=self._timeout_s)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch()), loop.create_task(self._monitor())]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._child is not None:
            await self._child.aclose()
        if self.wasm is not None:
            await self.wasm.aclose()
        if self.client is not None:
            self.client.close()
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    @property
    def ready(self) -> bool:
        """OPA has activated a bundle of ours (it can decide), and so has the in-process
        evaluator when it decides."""
        in_process = self.wasm is None or self.wasm.revision is not None
        return self.active_revision is not None and in_process

    @property
    def opa_pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def policy_status(self) -> dict[str, Any]:
        return {
            "active": self.ready,
            "revision": self.active_revision,
            "servedRevision": self.bundle.revision if self.bundle else None,
            "packs": sorted(self.sources.packs),
            "opa": "external" if self.external else "embedded",
            "evaluator": "opa" if self.wasm is None else "wasm",
            "wasmRevision": self.wasm.revision if self.wasm is not None else None,
            "url": self.client.url if self.client else None,
            "pid": self.opa_pid,
            "restarts": self._child.restarts if self._child else 0,
            "lastError": self.last_error or (self.wasm.error if self.wasm is not None else None),
        }

    @property
    def bindings(self) -> Mapping[str, Any]:
        """The bindings of the configuration (`data.giru.bindings` of the bundle)."""
        return self._facts.table.bindings

    def reload(self, config: Config) -> None:
        """A new configuration: new bindings and facts, a new bundle if anything changed."""
        self._config = config
        self._rebuild()

    def _rebuild(self) -> None:
        self._facts = compile_facts(self._config, self.sources)
        self.decisions.clear()  # keyed by the call alone: valid for these facts only
        self.visibility.clear()  # tool tags, claims and subscriptions are not in the bundle
        bundle = build_bundle(self.sources, self._facts.table.bindings)
        if self.bundle is None or bundle.revision != self.bundle.revision:
            self.bundle = bundle
            self._forget()
            if self.wasm is not None and _loop_running():
                self.wasm.schedule(bundle)
            self.changed.set()
            self.changed = asyncio.Event()
            _log.info("policy_bundle_built", revision=bundle.revision)

    def _forget(self) -> None:
        """Drop every answer kept from OPA (the bundle or OPA's active revision changed)."""
        self.visibility.clear(policy=True)
        self.decisions.clear()

    async def _load_sources(self, *, initial: bool = False) -> None:
        signature = _signature(self.directories)
        if signature == self._signature and not initial:
            return
        self._signature = signature
        try:
            sources = read_sources(self.directories)
            problem = await self._compile_check(sources)
        except (OSError, ValueError) as exc:
            problem = str(exc)
        if problem is not None:
            self.last_error = f"policy bundle rejected, the previous one stays active: {problem}"
            _log.error("policy_bundle_rejected", error=problem)
            if not initial:
                return
            sources = PolicySources({}, frozenset(), {})
        else:
            self.last_error = None
        self.sources = sources
        self._rebuild()

    async def _compile_check(self, sources: PolicySources) -> str | None:
        """`opa check` over the modules (when the binary is here): None when they compile."""
        if self._binary is None:
            return None
        with tempfile.TemporaryDirectory(prefix="giru-policy-check-") as tmp:
            for name, text in sources.modules.items():
                path = Path(tmp) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            process = await asyncio.create_subprocess_exec(
                str(self._binary),
                "check",
                tmp,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await process.communicate()
            if process.returncode == 0:
                return None
            return output.decode("utf-8", "replace").replace(tmp + "/", "").strip()[:2000]

    async def _watch(self) -> None:
        """Hot reload: the policy directories are re-read when a file changes."""
        while True:
            await asyncio.sleep(_WATCH_S)
            try:
                await self._load_sources()
            except Exception:  # noqa: BLE001 - a bad edit must not stop the watcher
                _log.exception("policy_reload_failed")

    async def _monitor(self) -> None:
        """Which revision OPA has active (readiness), once a second."""
        while True:
            revision: str | None = None
            if self.client is not None:
                try:
                    status, body = await self.client.request("GET", "/v1/data/giru/revision")
                    document = orjson.loads(body) if status == 200 else {}
                    found = document.get("result") if isinstance(document, dict) else None
                    revision = found if isinstance(found, str) else None
                except PolicyUnavailableError:
                    revision = None
            if revision != self.active_revision:
                _log.info("policy_revision_active", revision=revision)
                self._forget()
                self.active_revision = revision
                if revision is not None:
                    await self._prefetch_plans()
            await asyncio.sleep(_WATCH_S if revision is not None else 0.2)

    # -- decisions ---------------------------------------------------------------------------

    def input_for(self, call: Call) -> dict[str, Any]:
        """The decision input document for `call` (docs/policies/input.md)."""
        return self._facts.input_for(call)

    async def decide(self, call: Call) -> Decision:
        """OPA's decision for `call`; a denial with `unavailable` set when there is none."""
        started = time.perf_counter()
        document = self.input_for(call)
        decision = await self._decide_input(call, document, recorded_input(document))
        if decision.unavailable is not None:
            self.metrics.decided("unavailable", time.perf_counter() - started)
        elif decision.allow:
            self.metrics.decided("allowed", time.perf_counter() - started)
        else:
            self.metrics.decided("denied", time.perf_counter() - started)
            for rule in decision.deny:
                self.metrics.denied_by(rule.get("pack"), rule.get("control"))
        return decision

    async def _decide_input(
        self, call: Call, document: dict[str, Any], recorded: Mapping[str, Any]
    ) -> Decision:
        """The decision on `document` (the input of `call`), `recorded` for the audit log."""
        missing = self._missing_packs(document["binding"])
        if missing:
            return Decision(
                False, unavailable=missing, revision=self.active_revision, recorded=recorded
            )
        if self.wasm is not None:
            return await self._ask(self.wasm, call, document, recorded, self.wasm.revision)
        if self.client is None:
            unavailable = self.last_error or "no policy engine"
            return Decision(False, unavailable=unavailable, recorded=recorded)
        if self._child is not None:
            # Fail closed at once when the managed OPA dies: no decision is served from the
            # fast path's cache while it is down, and a restarted OPA is asked afresh.
            if not self._child.running:
                unavailable = "the policy engine (OPA) is not running"
                return Decision(False, unavailable=unavailable, recorded=recorded)
            if self._child.restarts != self._seen_restarts:
                self._seen_restarts = self._child.restarts
                self._forget()
        return await self._ask(self.client, call, document, recorded, self.active_revision)

    async def _ask(
        self,
        querier: Querier,
        call: Call,
        document: dict[str, Any],
        recorded: Mapping[str, Any],
        revision: str | None,
    ) -> Decision:
        """`querier`'s decision on `document`, through the fast path when the packs allow."""
        topics = self.sources.topics
        try:
            if self.fast_path and topics is not None:
                key = decision_key(call)
                result = await fast_result(querier, self.decisions, document, topics, key)
            else:
                result = await querier.query(_DECISION, document)
        except PolicyUnavailableError as exc:
            return Decision(False, unavailable=exc.message, revision=revision, recorded=recorded)
        return _decision(result, recorded)

    def policy_bundle(self) -> tuple[bytes, str]:
        """The bundle served to OPA (tar.gz) and its revision."""
        if self.bundle is None:
            raise PolicyUnavailableError("no policy bundle has been built")
        return self.bundle.archive, self.bundle.revision

    async def evaluate_policy(self, document: dict[str, Any]) -> dict[str, Any]:
        """The raw decision for a given input document (`giru policy eval`)."""
        if self.client is None:
            raise PolicyUnavailableError(self.last_error or "no policy engine")
        result = await self.client.query(_DECISION, document)
        if not isinstance(result, dict):
            raise PolicyUnavailableError("the decision is not an object")
        return result

    async def replay_policy(
        self, files: Mapping[str, str], calls: Sequence[Recorded]
    ) -> dict[str, Any]:
        """What `files` laid over the active sources would decide over `calls` (a temporary
        OPA; production is not touched): `giru policy replay`, giru.policy.replay."""
        if self._binary is None:
            raise PolicyUnavailableError(self._missing or "no opa binary for a replay")
        return await replay(self._binary, self.sources, self.bindings, files, calls)

    async def visible(
        self,
        call: Call,
        subscriptions: Mapping[str, str | None],
        routes: Sequence[tuple[str, str, str]],
    ) -> frozenset[str]:
        """Which of `routes` ((listed name, server, tool)) policy lets the caller of `call` (a
        tools/list) see at all: those a call without arguments would be allowed for.
        `subscriptions`: the subscription granting each listed name (a name left out: none).

        One `visible` query per caller and catalog (giru.policy.visibility), cached for a
        minute (rules may read the clock) or until the bundle, the configuration or the active
        revision changes; concurrent tools/list calls of one caller share one computation.
        `PolicyUnavailableError` when OPA gives no answer: nothing is shown (fail-closed).
        """
        if self.client is None:
            self.metrics.listed("unavailable")
            raise PolicyUnavailableError(self.last_error or "no policy engine")
        document = self._facts.listing(call)
        volatile = ("id", "time_ns")
        request = {k: v for k, v in document["request"].items() if k not in volatile}
        caller = [document["context"], document["subject"], document["client"], request]
        granted = tuple(subscriptions.items()) if any(subscriptions.values()) else None
        catalog = (Same(routes), call.virtual_server, granted)
        key = (orjson.dumps(caller, option=orjson.OPT_SORT_KEYS), catalog)

        async def compute() -> frozenset[str]:
            started = time.perf_counter()
            try:
                return await self._compute_visible(document, key[0], catalog, subscriptions, routes)
            finally:
                self.metrics.visibility_duration.observe(time.perf_counter() - started)

        return await self.visibility.get(key, compute)

    async def _compute_visible(
        self,
        document: dict[str, Any],
        caller: bytes,
        catalog: tuple[Same, str | None, object],
        subscriptions: Mapping[str, str | None],
        routes: Sequence[tuple[str, str, str]],
    ) -> frozenset[str]:
        facts, virtual_server = self._facts, catalog[1]
        generation = self.visibility.generation
        timeout = self._visible_timeout_s
        found: dict[tuple[str, str | None], str | None] = {}

        def bound(server: str, subscription: str | None) -> str | None:
            _, environment = facts.subscriptions.get(subscription or "", (None, None))
            key = facts.table.key(server, virtual_server, environment)
            binding = None if self._missing_packs(key) else key
            found[server, subscription] = binding
            return binding

        bindings: list[str | None]
        if subscriptions:
            bindings = []
            for name, server, _ in routes:
                subscription = subscriptions.get(name)
                binding = found.get((server, subscription), "")
                bindings.append(bound(server, subscription) if binding == "" else binding)
        else:  # no subscription grants a tool: the binding is the server's
            by_server = {server: bound(server, None) for server in {r[1] for r in routes}}
            bindings = [by_server[server] for _, server, _ in routes]
        used = {binding for binding in found.values() if binding is not None}

        plans = await self.visibility.plans_for(used, self._name_plans)
        names = self.visibility.names

        def make() -> ToolClasses:
            return tool_classes(routes, bindings, facts.tool_keys, plans, facts.server_keys, names)

        classes = self.visibility.classes_for(catalog, make, generation)

        def entry(binding: str, server: str, tool: str) -> dict[str, Any]:
            return {
                "server": server,
                "virtual_server": virtual_server,
                "tool": facts.tool(server, tool),
                "binding": binding,
            }

        signatures = [(caller, virtual_server, sig) for sig in classes.signatures]
        known = self.visibility.decided(signatures)
        assert self.client is not None
        visible, fresh = await visible_by_class(
            self.client, classes, document, entry, timeout, known
        )
        self.visibility.remember({signatures[i]: ok for i, ok in fresh.items()}, generation)
        return visible

    @property
    def _visible_timeout_s(self) -> float:
        """One query answers a whole tools/list: ten decisions' time, at least 2.5 s."""
        return max(self._timeout_s * 10, 2.5)

    async def _prefetch_plans(self) -> None:
        """The name plans of every binding, asked as soon as a bundle is active, so that the
        first tools/list after a change needs one query, not two."""
        if self.client is None or not self.bindings:
            return
        with contextlib.suppress(PolicyUnavailableError):  # asked again by the first list
            await self.visibility.plans_for(list(self.bindings), self._name_plans)

    async def _name_plans(self, missing: list[str]) -> dict[str, NamePlan | None]:
        """What the packs of each binding compare tool names with (None: not declared): asked
        for every binding of the configuration at once, so a bundle needs this query once."""
        bindings = sorted({*missing, *self.bindings})
        topics = self.sources.topics
        if topics is None:
            return dict.fromkeys(bindings)
        assert self.client is not None
        status, body = await self.client.request(
            "POST",
            f"/v1/data/{_TOOL_NAMES}",
            orjson.dumps({"input": {"bindings": bindings, "topics": topics}}),
            timeout_s=self._visible_timeout_s,
        )
        try:
            answer = orjson.loads(body) if status == 200 else None
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise PolicyUnavailableError(f"OPA gave no tool name plans (HTTP {status})")
        result = answer.get("result")
        declared = result if isinstance(result, dict) else {}  # undefined: a decision of its own
        return {binding: name_plan(declared.get(binding)) for binding in bindings}

    def _missing_packs(self, binding: str) -> str | None:
        missing = [p for p in self._facts.table.packs(binding) if p not in self.sources.packs]
        if not missing:
            return None
        return f"policy pack(s) {', '.join(missing)} are not installed"


def _decision(result: Any, recorded: Mapping[str, Any]) -> Decision:
    if not isinstance(result, dict):
        return Decision(False, unavailable="the decision is not an object", recorded=recorded)
    deny = _objects(result.get("deny"))
    audit, revision = result.get("audit"), result.get("revision")
    return Decision(
        allow=result.get("allow") is True and not deny,
        deny=deny,
        redact=_objects(result.get("redact")),
        audit=audit if isinstance(audit, dict) else {},
        alerts=_objects(result.get("alerts")),
        revision=revision if isinstance(revision, str) else None,
        approve=_objects(result.get("approve")),
        recorded=recorded,
    )


def _objects(found: Any) -> tuple[Mapping[str, Any], ...]:
    """The objects of a list in OPA's answer (anything else in it left out)."""
    if not found:  # the usual answer: nothing, at no generator's cost
        return ()
    return tuple(item for item in found if isinstance(item, dict))


def _loop_running() -> bool:
    """Whether an event loop runs here (a bundle built outside one, by a bench or a test, is
    built into the in-process evaluator by awaiting `WasmEvaluator.build`)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _signature(directories: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    entries: list[tuple[str, int, int]] = []
    for directory in directories:
        if not directory.is_dir():
            entries.append((str(directory), -1, -1))
            continue
        for path in sorted(directory.rglob("*")):
            if path.suffix in (".rego", ".json") and path.is_file():
                stat = path.stat()
                entries.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)
