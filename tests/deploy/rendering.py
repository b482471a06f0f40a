"""The real deployment tools the tests run (built into .tools/bin by scripts/peers-deploy.sh):
helm, kustomize and compose-go; Kubernetes 1.33's OpenAPI schemas from kubernetes-validate;
and the restricted Pod Security Standard, checked on rendered pods."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tests.peers import REPO_ROOT, TOOLS

__all__ = [
    "CHART",
    "COMPOSE",
    "KUBERNETES",
    "PRODUCTION_VALUES",
    "Dockerfile",
    "compose_project",
    "containers",
    "helm",
    "kustomize_build",
    "pod_security_violations",
    "render_chart",
    "schema_errors",
    "tool",
]

KUBERNETES = "1.33.0"
CHART = REPO_ROOT / "deploy" / "helm" / "giru"
PRODUCTION_VALUES = CHART / "values-production.yaml"
COMPOSE = REPO_ROOT / "deploy" / "compose" / "compose.yaml"
_CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("cert-manager.io/v1", "Certificate"),
}
"""Custom resources whose schemas kubernetes-validate does not hold (checked by shape here)."""


def tool(name: str) -> Path:
    path = TOOLS.bin / name
    assert path.exists(), f"{path} is missing: `make peers` builds it (scripts/peers-deploy.sh)"
    return path


def _run(argv: Sequence[str | Path], *, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    command = shlex.join(str(arg) for arg in argv)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr}{done.stdout}"
    return done.stdout


def helm(*args: str | Path) -> str:
    return _run([tool("helm"), *args])


def render_chart(*values: Path, namespace: str = "giru", **sets: str) -> list[dict[str, Any]]:
    """`helm template` of the chart (hooks included) as a list of objects."""
    argv: list[str | Path] = ["template", "giru", CHART, "--namespace", namespace]
    for path in values:
        argv += ["--values", path]
    for key, value in sets.items():
        argv += ["--set", f"{key.replace('__', '.')}={value}"]
    argv += ["--kube-version", KUBERNETES]
    return _documents(helm(*argv))


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    return _documents(_run([tool("kustomize"), "build", directory]))


def compose_project(*profiles: str) -> dict[str, Any]:
    """compose.yaml loaded, interpolated, validated and normalized by compose-go."""
    argv: list[str | Path] = [tool("compose-validate"), "-print"]
    for profile in profiles:
        argv += ["-profile", profile]
    project: dict[str, Any] = json.loads(_run([*argv, COMPOSE]))
    return project


def _documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def schema_errors(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every object checked against Kubernetes 1.33's schemas (strict: no unknown fields)."""
    errors = []
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in _CRDS:
            continue
        try:
            kubernetes_validate.validate(dict(obj), KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(part) for part in exc.path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']} {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{obj['apiVersion']} {obj['kind']}: no such kind in {KUBERNETES}")
    return errors


def pod_spec(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] == "Pod":
        spec: dict[str, Any] = obj["spec"]
        return spec
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        template: dict[str, Any] = obj["spec"]["template"]["spec"]
        return template
    return None


def containers(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(obj) or {}
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def pod_security_violations(obj: Mapping[str, Any]) -> list[str]:
    """What the restricted Pod Security Standard (Kubernetes 1.33) refuses in this object's pod:
    the baseline rules plus the restricted ones."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    found: list[str] = []
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    pod = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        if spec.get(key) is (key != "hostUsers"):
            found.append(f"{name}: {key}")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _VOLUMES:
            found.append(f"{name}: volume {volume['name']} is {sorted(kinds)}")
    found += _sysctls(name, pod)
    for container in containers(obj):
        found += _container_violations(f"{name}/{container['name']}", container, pod)
    return found


def _sysctls(name: str, pod: Mapping[str, Any]) -> list[str]:
    safe = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies"}
    safe |= {"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}
    return [f"{name}: sysctl {s['name']}" for s in pod.get("sysctls", []) if s["name"] not in safe]


def _container_violations(
    name: str, container: Mapping[str, Any], pod: Mapping[str, Any]
) -> list[str]:
    context = container.get("securityContext") or {}
    found = []
    if context.get("privileged"):
        found.append(f"{name}: privileged")
    if context.get("allowPrivilegeEscalation") is not False:
        found.append(f"{name}: allowPrivilegeEscalation is not false")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in capabilities.get("drop", []):
        found.append(f"{name}: capabilities do not drop ALL")
    if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
        found.append(f"{name}: adds capabilities {capabilities['add']}")
    if not context.get("runAsNonRoot", pod.get("runAsNonRoot")):
        found.append(f"{name}: runAsNonRoot is not true")
    if context.get("runAsUser", pod.get("runAsUser")) == 0:
        found.append(f"{name}: runAsUser 0")
    seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        found.append(f"{name}: seccompProfile is {seccomp}")
    if context.get("procMount", "Default") != "Default":
        found.append(f"{name}: procMount")
    if any("hostPort" in port for port in container.get("ports", [])):
        found.append(f"{name}: hostPort")
    return found


@dataclass(frozen=True)
class Dockerfile:
    """The final stage of the Dockerfile: its ENTRYPOINT, CMD, ENV names, EXPOSE and USER."""

    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    expose: set[int]
    user: str

    @classmethod
    def read(cls, path: Path = REPO_ROOT / "Dockerfile") -> Dockerfile:
        final = _instructions(path)
        stages = [i for i, (op, _) in enumerate(final) if op == "FROM"]
        final = final[stages[-1] :]
        values: dict[str, Any] = {"entrypoint": [], "cmd": [], "env": {}, "expose": set()}
        values["user"] = ""
        for op, argument in final:
            if op in ("ENTRYPOINT", "CMD"):
                values[op.lower()] = json.loads(argument)
            elif op == "ENV":
                values["env"].update(_env_pairs(argument))
            elif op == "EXPOSE":
                values["expose"] |= {int(port.split("/")[0]) for port in argument.split()}
            elif op == "USER":
                values["user"] = argument.strip()
        return cls(**values)


def _instructions(path: Path) -> list[tuple[str, str]]:
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def _env_pairs(argument: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(argument))
