"""Deciding in process: the bundle's Rego compiled to WebAssembly (`opa build -t wasm`) and run
by wasmtime through OPA's single-call `opa_eval` ABI, with no socket round trip.

`compile_bundle` turns a bundle (giru.policy.bundle) into a `WasmPolicy` with the opa binary
Giru already runs, off the event loop; `WasmEvaluator` answers `query(path, input)` like
`OpaClient.query` from the policy of the active revision. OPA stays the reference: the builtins
the Wasm target leaves to the host are provided by giru.policy.wasm_builtins with OPA's
semantics, and a bundle needing any other is refused. A decision running past the timeout is
interrupted (wasmtime epochs) and raises `PolicyUnavailableError`: the call is denied.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import io
import math
import tarfile
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import structlog
import wasmtime

# wasmtime-py's checked call costs ~10 µs a call (a PCI decision makes ~30): the unchecked C
# call through its private bindings instead, hence the dependency pinned to one major version.
from wasmtime import _bindings as ffi
from wasmtime._func import maybe_raise_last_exn

from giru.errors import PolicyUnavailableError
from giru.policy.bundle import Bundle
from giru.policy.wasm_builtins import (
    BUILTINS,
    REGO_TEXT,
    BuiltinError,
    UnsupportedBuiltinError,
    parse_rego,
)

__all__ = [
    "ENTRYPOINTS",
    "WasmEvaluator",
    "WasmPolicy",
    "compile_bundle",
    "load_policy",
    "wasm_engine",
]

_log = structlog.get_logger(__name__)
ENTRYPOINTS: Final = ("giru/decision/result", "giru/decision/fast")
"""What the engine asks per call (the full decision, and the fast path's question)."""
_TICKS: Final = 10
"""Epoch ticks per decision timeout: a decision is interrupted within 1.1 x the timeout."""
_PAGE: Final = 65536
_INITIAL_PAGES: Final = 5
"""What OPA's own Wasm SDKs start a policy's memory with (its data segments need more than the
module declares)."""
_I32: Final = wasmtime.ValType.i32()
_NEVER: Final = 1 << 62
"""The epoch deadline of a fresh store (each decision sets its own)."""


def wasm_engine() -> wasmtime.Engine:
    """The wasmtime engine policies compile for: epoch interruption on (decision timeouts)."""
    config = wasmtime.Config()
    config.epoch_interruption = True
    return wasmtime.Engine(config)


class _Instance:
    """One instance of a policy module: its memory, exports, and `data` parsed in once."""

    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module, data: bytes) -> None:
        self.store = wasmtime.Store(engine)
        self.store.set_epoch_deadline(_NEVER)
        self.by_id: dict[int, Callable[..., Any]] = {}
        self.as_text: frozenset[int] = frozenset()
        self.memory = wasmtime.Memory(self.store, _memory_type(module))
        imports = [self._import(entry.name or "") for entry in module.imports]
        exports = wasmtime.Instance(self.store, module, imports).exports(self.store)

        def function(name: str) -> wasmtime.Func:
            found = exports.get(name)
            if not isinstance(found, wasmtime.Func):
                raise PolicyUnavailableError(f"the policy module does not export {name}")
            return found

        names = (
            *("opa_malloc", "opa_json_parse", "opa_json_dump", "opa_value_dump"),
            *("opa_eval", "opa_heap_ptr_get"),
        )
        self.call = {name: _Export(function(name), self.store) for name in names}
        required = self._json(_Export(function("builtins"), self.store)(self.store))
        missing = sorted(name for name in required if name not in BUILTINS)
        if missing:
            raise PolicyUnavailableError(
                f"the policy needs builtins the in-process evaluator lacks: {', '.join(missing)}"
            )
        self.by_id = {number: BUILTINS[name] for name, number in required.items()}
        self.as_text = frozenset(n for name, n in required.items() if name in REGO_TEXT)
        found = self._json(_Export(function("entrypoints"), self.store)(self.store))
        self.entrypoints: dict[str, int] = found
        self.data = self._parse(self.store, data)
        self.heap = self.call["opa_heap_ptr_get"](self.store)

    def _import(self, name: str) -> wasmtime.Func | wasmtime.Memory:
        """What the module imports: `memory`, `opa_abort` and `opa_builtin0` .. `4`."""
        if name == "memory":
            return self.memory
        if name == "opa_abort":
            return wasmtime.Func(self.store, wasmtime.FuncType([_I32], []), _abort)
        arity = name.removeprefix("opa_builtin")
        if name == arity or not arity.isdigit():
            raise PolicyUnavailableError(f"the policy module imports an unknown {name}")
        kind = wasmtime.FuncType([_I32] * (int(arity) + 2), [_I32])
        return wasmtime.Func(self.store, kind, self._builtin, access_caller=True)

    def _string(self, store: wasmtime.Store | wasmtime.Caller, address: int) -> bytes:
        base = ctypes.addressof(self.memory.data_ptr(store).contents)
        return ctypes.string_at(base + address)

    def _json(self, address: int, store: wasmtime.Store | wasmtime.Caller | None = None) -> Any:
        where = self.store if store is None else store
        return orjson.loads(self._string(where, self.call["opa_json_dump"](where, address)))

    def _text(self, address: int, store: wasmtime.Store | wasmtime.Caller) -> Any:
        """The value at `address` read from its Rego text (sets stay sets)."""
        dumped = self._string(store, self.call["opa_value_dump"](store, address))
        return parse_rego(dumped.decode("utf-8", "replace"))

    def _parse(self, store: wasmtime.Store | wasmtime.Caller, text: bytes) -> int:
        address = int(self.call["opa_malloc"](store, len(text)))
        self.memory.write(store, text, address)
        return int(self.call["opa_json_parse"](store, address, len(text)))

    def _builtin(self, caller: wasmtime.Caller, number: int, _ctx: int, *args: int) -> int:
        try:
            read = self._text if number in self.as_text else self._json
            result = self.by_id[number](*(read(arg, caller) for arg in args))
        except BuiltinError:
            return 0  # undefined, as OPA makes a builtin's error outside strict mode
        return self._parse(caller, orjson.dumps(result))

    def evaluate(self, entrypoint: int, document: bytes) -> Any:
        """The result set of `entrypoint` for the input `document` (JSON)."""
        needed = self.heap + len(document) - self.memory.data_len(self.store)
        if needed > 0:
            self.memory.grow(self.store, -(-needed // _PAGE))
        self.memory.write(self.store, document, self.heap)
        end = self.heap + len(document)  # opa_eval's heap starts after the input
        found = self.call["opa_eval"](
            self.store, 0, entrypoint, self.data, self.heap, len(document), end, 0
        )
        return orjson.loads(self._string(self.store, found))


class _Export:
    """An exported function of i32 parameters and one i32 result, called without wasmtime-py's
    per-call type checks (the ABI fixes the types)."""

    __slots__ = ("_func", "_size")

    def __init__(self, func: wasmtime.Func, store: wasmtime.Store) -> None:
        self._func = ctypes.byref(func._func)
        kind = func.type(store)
        self._size = max(len(kind.params), len(kind.results), 1)

    def __call__(self, store: wasmtime.Store | wasmtime.Caller, *args: int) -> int:
        values = (ffi.wasmtime_val_raw_t * self._size)()
        for index, arg in enumerate(args):
            values[index].i32 = arg
        trap = ctypes.POINTER(ffi.wasm_trap_t)()
        error = ffi.wasmtime_func_call_unchecked(
            store._context(), self._func, values, self._size, ctypes.byref(trap)
        )
        if error:
            maybe_raise_last_exn()
            raise wasmtime.WasmtimeError._from_ptr(error)
        if trap:
            maybe_raise_last_exn()
            raise wasmtime.Trap._from_ptr(trap)
        return int(values[0].i32)


def _memory_type(module: wasmtime.Module) -> wasmtime.MemoryType:
    for entry in module.imports:
        if entry.name == "memory" and isinstance(entry.type, wasmtime.MemoryType):
            minimum = max(entry.type.limits.min, _INITIAL_PAGES)
            return wasmtime.MemoryType(wasmtime.Limits(minimum, None))
    raise PolicyUnavailableError("the policy module imports no memory")


def _nothing() -> None:
    return None


def _abort(address: int) -> None:
    raise RuntimeError(f"the policy module aborted (message at {address})")


@dataclass(slots=True)
class WasmPolicy:
    """A bundle revision compiled to WebAssembly: the module and the bundle's data."""

    revision: str
    module: wasmtime.Module
    data: bytes


def _unpack(archive: bytes) -> tuple[bytes, bytes]:
    """policy.wasm and data.json of an `opa build -t wasm` archive."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.lstrip("/")
            if name in ("policy.wasm", "data.json"):
                extracted = tar.extractfile(member)
                if extracted is not None:
                    found[name] = extracted.read()
    if "policy.wasm" not in found:
        raise PolicyUnavailableError("opa build -t wasm gave no policy.wasm")
    return found["policy.wasm"], found.get("data.json", b"{}")


async def compile_bundle(
    binary: Path, bundle: Bundle, engine: wasmtime.Engine, entrypoints: Sequence[str] = ENTRYPOINTS
) -> WasmPolicy:
    """`bundle` built with `opa build -t wasm` and compiled by wasmtime (in a thread), checked
    by instantiating it once; `PolicyUnavailableError` saying why when it cannot be used."""
    with tempfile.TemporaryDirectory(prefix="giru-wasm-") as tmp:
        source, target = Path(tmp) / "bundle.tar.gz", Path(tmp) / "wasm.tar.gz"
        source.write_bytes(bundle.archive)
        argv = [str(binary), "build", "-t", "wasm", "-b", str(source), "-o", str(target)]
        for entrypoint in entrypoints:
            argv += ["-e", entrypoint]
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            problem = output.decode("utf-8", "replace").replace(tmp + "/", "").strip()[:2000]
            raise PolicyUnavailableError(f"opa build -t wasm failed: {problem}")
        archive = target.read_bytes()
    return await asyncio.to_thread(load_policy, bundle.revision, archive, engine)


def load_policy(revision: str, archive: bytes, engine: wasmtime.Engine) -> WasmPolicy:
    """The policy of an `opa build -t wasm` archive, compiled by wasmtime (CPU-bound: call it
    off the event loop) and checked by instantiating it once (a module needing builtins Giru
    lacks is refused); `PolicyUnavailableError` saying why when it cannot be used."""
    wasm, data = _unpack(archive)
    try:
        module = wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as exc:
        raise PolicyUnavailableError(f"the policy module does not compile: {exc}") from None
    policy = WasmPolicy(revision, module, data)
    _instance(engine, policy)
    return policy


def _instance(engine: wasmtime.Engine, policy: WasmPolicy) -> _Instance:
    """A fresh instance of `policy`; `PolicyUnavailableError` when it cannot be made."""
    try:
        return _Instance(engine, policy.module, policy.data)
    except (wasmtime.WasmtimeError, RuntimeError, ValueError) as exc:
        raise PolicyUnavailableError(f"the policy module cannot start: {exc}") from None


class _Ticker:
    """Advances the engine's epoch every `interval_s` from the first policy activated on."""

    def __init__(self, engine: wasmtime.Engine, interval_s: float) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="giru-wasm-epoch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._engine.increment_epoch()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class WasmEvaluator:
    """Answers decision queries from the active `WasmPolicy`, on the calling thread.

    `schedule(bundle)` builds each new bundle revision in the background (`opa build -t wasm`
    with `binary`, compiled in a thread); the previous revision decides until it is ready, as
    OPA keeps its bundle until the next one activates. A bundle that cannot be used is refused
    (`error` says why) and the previous one stays; with none, every query fails closed.
    """

    def __init__(
        self, binary: Path | None, *, timeout_s: float, on_active: Callable[[], None] = _nothing
    ) -> None:
        self.engine = wasm_engine()
        self.binary = binary
        self.timeout_s = timeout_s
        self.url = "wasm:in-process"
        self.policy: WasmPolicy | None = None
        self.error: str | None = None
        self._on_active = on_active
        self._instance: _Instance | None = None
        self._build: asyncio.Task[None] | None = None
        self._tick_s = timeout_s / _TICKS
        self._ticker: _Ticker | None = None

    @property
    def revision(self) -> str | None:
        return self.policy.revision if self.policy is not None else None

    def schedule(self, bundle: Bundle) -> None:
        """Build and activate `bundle` in the background (a pending build is dropped)."""
        if self._build is not None:
            self._build.cancel()
        self._build = asyncio.get_running_loop().create_task(self.build(bundle))

    async def build(self, bundle: Bundle) -> None:
        """Build `bundle` and decide with it from now on; on failure keep the active one."""
        try:
            if self.binary is None:
                raise PolicyUnavailableError("no opa binary to build the policy module with")
            policy = await compile_bundle(self.binary, bundle, self.engine)
            self.activate(policy)
        except PolicyUnavailableError as exc:
            self.error = f"policy bundle {bundle.revision} refused in process: {exc.message}"
            _log.error("policy_wasm_refused", revision=bundle.revision, error=exc.message)

    def activate(self, policy: WasmPolicy) -> None:
        """Decide with `policy` from now on (its instance is made here, data parsed in)."""
        self._instance = _instance(self.engine, policy)
        self.policy, self.error = policy, None
        if self._ticker is None:
            self._ticker = _Ticker(self.engine, self._tick_s)
        _log.info("policy_wasm_active", revision=policy.revision)
        self._on_active()

    async def query(self, path: str, payload: Any, *, timeout_s: float | None = None) -> Any:
        """The result of the entrypoint `path` for the input `payload`, as OpaClient.query."""
        return self.evaluate(path, payload, timeout_s=timeout_s)

    def evaluate(self, path: str, payload: Any, *, timeout_s: float | None = None) -> Any:
        """`query` without the coroutine; `PolicyUnavailableError` for anything but a result."""
        instance, policy = self._instance, self.policy
        if instance is None or policy is None:
            raise PolicyUnavailableError(self.error or "no policy module is active")
        entrypoint = instance.entrypoints.get(path)
        if entrypoint is None:
            raise PolicyUnavailableError(f"data.{path.replace('/', '.')} is not an entrypoint")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        instance.store.set_epoch_deadline(math.ceil(timeout / self._tick_s) + 1)
        try:
            found = instance.evaluate(entrypoint, orjson.dumps(payload))
        except wasmtime.Trap as exc:
            self._instance = _instance(self.engine, policy)  # its state is unknown
            if exc.trap_code == wasmtime.TrapCode.INTERRUPT:
                raise PolicyUnavailableError(
                    f"the policy did not decide within {timeout * 1000:.0f} ms"
                ) from None
            raise PolicyUnavailableError(f"the policy module failed: {exc.trap_code}") from None
        except (wasmtime.WasmtimeError, RuntimeError, ValueError) as exc:
            self._instance = _instance(self.engine, policy)
            # The type only: a message could quote the input. UnsupportedBuiltinError's never does.
            why = str(exc) if isinstance(exc, UnsupportedBuiltinError) else type(exc).__name__
            raise PolicyUnavailableError(f"the policy module failed: {why}") from None
        if not found or not isinstance(found[0], Mapping) or "result" not in found[0]:
            raise PolicyUnavailableError(f"the decision data.{path.replace('/', '.')} is undefined")
        return found[0]["result"]

    async def aclose(self) -> None:
        if self._build is not None:
            self._build.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._build
        if self._ticker is not None:
            self._ticker.close()
