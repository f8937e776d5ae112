"""Cold imports: each Lambda's handler module imported in a fresh interpreter, timed in the child.

What a cold start pays before the first line of a handler runs is the import of its module
(interpreter start-up and the runtime's own bootstrap come on top, and are the same for every
function). The child also reports which forbidden modules the import loaded: the API functions
must not load the Replicate client, httpx or ffmpeg code.

``packaged`` measures what Lambda runs: each handler imported from the bundle ``make package`` built
(``cdk.out/``: the code asset and the function's layers, with their bytecode, plus boto3 as the
runtime provides it), by the runtime's own Python (3.12), ``-B -S`` (no site-packages: nothing but
the bundle and the standard library), beside the floor imported the same way, round-robin in the
same run. The child reports wall and CPU time; the ratio to the floor uses the medians of wall time.

``--no-bytecode`` measures the same import when no ``.pyc`` exists for the project's code or its
dependencies (the stdlib keeps its bytecode): what happens on Lambda when the code asset and the
layers ship without bytecode, since ``/opt`` and ``/var/task`` are read-only and Python cannot
cache what it compiles.

Run alone: ``python -m bench.cold_start --out cold.json [--runs 7]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.stats import median

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"

#: Never imported by the API functions (submit, status, authorizer).
FORBIDDEN_FOR_API = (
    "replicate",
    "httpx",
    "imageio_ffmpeg",
    "service.adapters.ffmpeg",
    "service.adapters.replicate_gateway",
)
#: The floor every function pays: boto3 and a powertools Logger.
BASELINE = 'import boto3\nfrom aws_lambda_powertools import Logger\nLogger(service="videogen")'

#: Compiles project and third-party sources without reading or writing any bytecode cache; the
#: standard library keeps its ``.pyc`` (the Lambda runtime ships it compiled).
_NO_BYTECODE_HOOK = """
import sys, sysconfig
from importlib import machinery
_stdlib = sysconfig.get_paths()["stdlib"]
class _NoCacheLoader(machinery.SourceFileLoader):
    def get_code(self, fullname):
        path = self.get_filename(fullname)
        if path.startswith(_stdlib) and "site-packages" not in path:
            return super().get_code(fullname)
        return self.source_to_code(self.get_data(path), path)
sys.dont_write_bytecode = True
sys.path_hooks.insert(0, machinery.FileFinder.path_hook(
    (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
    (_NoCacheLoader, machinery.SOURCE_SUFFIXES),
    (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES),
))
sys.path_importer_cache.clear()
"""

_CHILD = """
import json, sys, time
{hook}
_began, _cpu = time.perf_counter(), time.process_time()
{code}
_elapsed_ms = (time.perf_counter() - _began) * 1000
_cpu_ms = (time.process_time() - _cpu) * 1000
_prefixes = {prefixes!r}
_loaded = sorted({{p for n in list(sys.modules) for p in _prefixes if n == p or n.startswith(p + ".")}})
print(json.dumps({{"ms": _elapsed_ms, "cpu_ms": _cpu_ms, "forbidden": _loaded}}))
"""
#: The packaged bundle (``make package``) and what it holds (``infra/package.py``).
PACKAGE_MANIFEST = ROOT / "cdk.out" / "videogen-package.json"


def child_environment() -> dict[str, str]:
    """A Lambda-like environment: the code asset on the path, a region, powertools' names; no
    credentials or endpoints (nothing is called at import time)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "PYTHONPATH": str(FUNCTIONS_DIR),
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "videogen",
            "POWERTOOLS_METRICS_NAMESPACE": "VideoGen",
        }
    )
    return env


def _run_once(
    script: str, cwd: str, python: str, flags: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> dict[str, Any]:
    done = subprocess.run(
        [python, *flags, "-c", script],
        env=env if env is not None else child_environment(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def time_codes(
    codes: dict[str, str],
    *,
    runs: int,
    forbidden: tuple[str, ...] = FORBIDDEN_FOR_API,
    no_bytecode: bool = False,
    python: str = sys.executable,
    prelude: dict[str, str] | None = None,
    flags: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run each of ``codes`` in ``runs`` fresh interpreters, round-robin (so that a burst of load
    on the machine hits every candidate alike); per name, the median milliseconds (wall and CPU) and
    what the code loaded of ``forbidden``. ``prelude``: per name, code run before the clock starts."""
    hook = _NO_BYTECODE_HOOK if no_bytecode else ""
    scripts = {
        name: _CHILD.format(hook=hook + (prelude or {}).get(name, ""), code=code, prefixes=forbidden)
        for name, code in codes.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in codes}
    cpu: dict[str, list[float]] = {name: [] for name in codes}
    loaded: dict[str, set[str]] = {name: set() for name in codes}
    with tempfile.TemporaryDirectory(prefix="bench-cwd-") as cwd:  # no stray modules on sys.path
        for _ in range(runs):
            for name, script in scripts.items():
                answer = _run_once(script, cwd, python, flags, env)
                samples[name].append(float(answer["ms"]))
                cpu[name].append(float(answer["cpu_ms"]))
                loaded[name].update(answer["forbidden"])
    return {
        name: {
            "median_ms": round(median(samples[name]), 1),
            "cpu_median_ms": round(median(cpu[name]), 1),
            "runs": runs,
            "samples_ms": [round(s, 1) for s in samples[name]],
            "forbidden_loaded": sorted(loaded[name]),
        }
        for name in codes
    }


def time_code(code: str, *, runs: int, no_bytecode: bool = False) -> dict[str, Any]:
    """One snippet: see :func:`time_codes`."""
    return time_codes({"code": code}, runs=runs, no_bytecode=no_bytecode)["code"]


def import_breakdown(module: str, *, top: int = 8, python: str = sys.executable) -> dict[str, float]:
    """Where one import's time goes: ``-X importtime`` self times summed per top-level package
    (one run; the tracing itself slows imports down, so read it as shares, not absolutes)."""
    with tempfile.TemporaryDirectory(prefix="bench-cwd-") as cwd:
        done = subprocess.run(
            [python, "-X", "importtime", "-c", f"import {module}"],
            env=child_environment(),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    by_package: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        root = name.strip().split(".")[0]
        by_package[root] = by_package.get(root, 0.0) + int(self_us) / 1000
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)
    shown = {name: round(ms, 1) for name, ms in ranked[:top]}
    shown["(other)"] = round(sum(ms for _, ms in ranked[top:]), 1)
    return shown


def handler_module(handler: str) -> str:
    """``service.handlers.submit.handler`` → ``service.handlers.submit``."""
    return handler.rpartition(".")[0]


def packaged_environment() -> dict[str, str]:
    """What Lambda gives a Python function, and no site-packages, no PYTHONPATH, no bytecode writes."""
    env = {k: v for k, v in child_environment().items() if k != "PYTHONPATH"}
    return env | {"PYTHONDONTWRITEBYTECODE": "1"}


def packaged_paths(manifest: dict[str, Any], function: str | None) -> list[str]:
    """``sys.path`` as Lambda orders it: the code asset, the function's layers, the runtime's boto3.
    ``None``: the floor's (the API layer, for powertools, and boto3)."""
    root = PACKAGE_MANIFEST.parent

    def layer(name: str) -> str:
        return str(root / manifest["layers"][name]["import_check"] / "python")

    runtime = str(root / manifest["runtime_sdk"] / "python")
    if function is None:
        return [layer("api"), runtime]
    spec = manifest["functions"][function]
    return [str(root / spec["code"]), *(layer(name) for name in spec["layers"]), runtime]


def measure_packaged(runs: int = 9) -> dict[str, Any]:
    """Every function's handler imported from the packaged bundle on the runtime's Python, beside
    the floor, round-robin in one run (``make package`` must have run: ``make bench`` does)."""
    if not PACKAGE_MANIFEST.is_file():
        raise RuntimeError(f"No packaged bundle at {PACKAGE_MANIFEST}: run `make package`")
    manifest = json.loads(PACKAGE_MANIFEST.read_text())
    names = list(manifest["functions"])
    codes = {"baseline": BASELINE} | {
        name: f"import {handler_module(manifest['functions'][name]['handler'])}" for name in names
    }
    prelude = {
        name: f"sys.path[:0] = {packaged_paths(manifest, None if name == 'baseline' else name)!r}\n"
        for name in codes
    }
    timed = time_codes(
        codes,
        runs=runs,
        python=manifest["runtime_python"]["path"],
        prelude=prelude,
        flags=("-B", "-S"),
        env=packaged_environment(),
    )
    baseline = timed.pop("baseline")
    functions = {
        name: timed[name]
        | {
            "ratio_to_baseline": round(timed[name]["median_ms"] / baseline["median_ms"], 2),
            "cpu_ratio_to_baseline": round(timed[name]["cpu_median_ms"] / baseline["cpu_median_ms"], 2),
        }
        for name in names
    }
    return {
        "python": manifest["runtime_python"]["version"],
        "architecture": {"deployed": manifest["architecture"], "measured_on": manifest["host_architecture"]},
        "baseline": {"code": BASELINE, **baseline},
        "functions": functions,
    }


def measure(runs: int = 7, no_bytecode_runs: int = 3, packaged_runs: int = 9) -> dict[str, Any]:
    """Every catalog function's handler import, the baseline, and (API functions) without bytecode."""
    from service.catalog import FUNCTIONS

    modules = {spec.name: handler_module(spec.handler) for spec in FUNCTIONS}
    # One discarded warm-up: a fresh clone has no bytecode for functions/ yet.
    time_code("\n".join(f"import {m}" for m in modules.values()), runs=1)
    codes = {"baseline": BASELINE} | {name: f"import {module}" for name, module in modules.items()}
    timed = time_codes(codes, runs=runs)
    baseline = timed.pop("baseline")
    api = [spec.name for spec in FUNCTIONS if spec.kind != "workflow"]
    without = (
        time_codes({name: codes[name] for name in api}, runs=no_bytecode_runs, no_bytecode=True)
        if no_bytecode_runs
        else {}
    )
    functions: dict[str, Any] = {}
    for spec in FUNCTIONS:
        result = timed[spec.name] | {"kind": spec.kind}
        result["ratio_to_baseline"] = round(result["median_ms"] / baseline["median_ms"], 2)
        if spec.name in without:
            result["no_bytecode_median_ms"] = without[spec.name]["median_ms"]
        if spec.kind != "workflow":
            result["import_breakdown_ms"] = import_breakdown(modules[spec.name])
        functions[spec.name] = result
    return {
        "python": sys.version.split()[0],
        "baseline": {"code": BASELINE, **baseline},
        "functions": functions,
        "packaged": measure_packaged(packaged_runs) if packaged_runs else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-bytecode-runs", type=int, default=3)
    parser.add_argument("--packaged-runs", type=int, default=9, help="0: skip the packaged bundle")
    parser.add_argument("--packaged-only", action="store_true", help="only the packaged bundle")
    args = parser.parse_args(argv)
    if args.packaged_only:
        args.out.write_text(json.dumps(measure_packaged(args.packaged_runs), indent=2))
        return 0
    args.out.write_text(json.dumps(measure(args.runs, args.no_bytecode_runs, args.packaged_runs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
