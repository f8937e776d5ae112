"""Point 3 of issue 11: every handler the template names imports from the packaged assets alone
(the code asset, the function's layers, boto3 as the runtime provides it), on the runtime's Python,
with the tree mounted read-only and bytecode writing off, and no module is compiled from source.

How "no module compiled from source" is proven: the child installs an audit hook before importing
anything of the bundle. CPython raises the ``compile`` audit event for every ``compile()`` call,
which is how importlib turns a source file into code when it cannot use the cached ``.pyc``
(``SourceLoader.source_to_code``); loading a ``.pyc`` raises ``marshal.loads`` instead. The hook
records every ``compile`` of a file under the bundle: there must be none. The child also checks that
each module it loaded from the bundle came from its cached ``.pyc``, and that no module came from
anywhere but the bundle and the interpreter's standard library.

Read-only: the assembly is bind-mounted read-only in a user and mount namespace of the child's own
(``unshare``), so a write fails with EROFS even as root; the child proves it by trying one.

This machine is x86_64 and the layers are arm64: a native extension (pydantic-core) built for arm64
cannot load here. ``make package`` therefore builds those layers a second time for this machine, from
the same lock by the same code; the last test proves the two differ only in their native extensions
and wheel tags, so every Python file and every ``.pyc`` imported here is byte for byte the one that
is deployed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.package.conftest import ASSEMBLY, Package

_CHILD = r"""
import json, os, sys, sysconfig
roots = json.loads(sys.argv[2])
compiled, parsed = [], []

def audit(event, args):
    if event == "compile" and isinstance(args[1], str) and args[1].startswith(tuple(roots)):
        # The import system compiles in source_to_code; a library that reads its own source (anyio's
        # lazy importer runs ast.parse on its __init__.py) is parsing, not missing bytecode.
        # (source_to_code calls compile through _call_with_frames_removed: look two frames up)
        callers = {sys._getframe(depth).f_code.co_name for depth in (1, 2)}
        (compiled if "source_to_code" in callers else parsed).append(args[1])

sys.addaudithook(audit)
sys.path[:0] = roots
module_name, _, attribute = sys.argv[1].rpartition(".")
import importlib
module = importlib.import_module(module_name)
handler = getattr(module, attribute)

try:
    open(os.path.join(roots[0], "written-at-run-time"), "w").close()
    writable = True
except OSError:
    writable = False

stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
from_bundle, not_from_cache, foreign = 0, [], []
for name, loaded in list(sys.modules.items()):
    path = getattr(loaded, "__file__", None)
    if not path:
        continue
    if path.startswith(tuple(roots)):
        from_bundle += 1
        cached = getattr(loaded, "__cached__", None)
        if path.endswith(".py") and not (cached and os.path.isfile(cached)):
            not_from_cache.append(name)
    elif not path.startswith(stdlib) or "site-packages" in path:
        foreign.append(f"{name}: {path}")
print(json.dumps({
    "callable": callable(handler),
    "compiled_from_source": compiled,
    "parsed_by_libraries": parsed,
    "from_bundle": from_bundle,
    "not_from_cache": not_from_cache,
    "foreign": foreign,
    "writable": writable,
    "dont_write_bytecode": sys.dont_write_bytecode,
    "python": sys.version.split()[0],
}))
"""


def read_only(command: list[str], tree: Path) -> list[str]:
    """``command`` in namespaces of its own where ``tree`` is mounted read-only."""
    if shutil.which("unshare") is None:
        pytest.fail("the import check needs `unshare` (util-linux) to mount the bundle read-only")
    mount = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"'
    return ["unshare", "--map-root-user", "--mount", "sh", "-c", mount, "sh", str(tree), *command]


def import_in_bundle(package: Package, function: str) -> dict[str, object]:
    spec = package.manifest["functions"][function]
    environment = {
        "PATH": "/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        **spec["environment"],
    }
    command = [
        package.python,
        "-B",
        "-S",
        "-c",
        _CHILD,
        spec["handler"],
        json.dumps(package.sys_path(function)),
    ]
    done = subprocess.run(
        read_only(command, ASSEMBLY),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


FUNCTION_NAMES = [
    "authorizer",
    "submit",
    "status",
    "uploads",
    "controls",
    "docs",
    "replicate_webhooks",
    "start_predictions",
    "await_wake",
    "poll_predictions",
    "finalize",
    "fail_task",
    "cleanup",
    "deliver",
]


def test_the_template_names_exactly_the_catalog_functions(package: Package) -> None:
    from service.catalog import FUNCTIONS

    assert (
        sorted(package.manifest["functions"])
        == sorted(spec.name for spec in FUNCTIONS)
        == sorted(FUNCTION_NAMES)
    )
    for spec in FUNCTIONS:
        assert package.manifest["functions"][spec.name]["handler"] == spec.handler


@pytest.mark.parametrize("function", FUNCTION_NAMES)
def test_every_handler_imports_from_the_read_only_bundle_without_compiling(
    package: Package, function: str
) -> None:
    result = import_in_bundle(package, function)
    assert result["callable"] is True
    assert result["python"] == package.manifest["runtime_python"]["version"]
    assert result["writable"] is False, "the bundle must be read-only, as /var/task and /opt are"
    assert result["dont_write_bytecode"] is True
    assert result["compiled_from_source"] == []
    assert result["not_from_cache"] == []
    assert result["foreign"] == [], "only the bundle and the standard library"
    assert isinstance(result["from_bundle"], int) and result["from_bundle"] > 50


def test_the_check_sees_a_compile_from_source(package: Package, tmp_path: Path) -> None:
    # Given a bundle whose bytecode is missing for one module (copied, then its .pyc removed)
    code = tmp_path / "code"
    shutil.copytree(package.code, code)
    (code / "service/handlers/__pycache__/authorizer.cpython-312.pyc").unlink()
    manifest = json.loads(json.dumps(package.manifest))
    for spec in manifest["functions"].values():
        spec["code"] = str(code)  # absolute: Package.path keeps it
    altered = Package(manifest)
    # When the authorizer is imported from it
    result = import_in_bundle(altered, "authorizer")
    # Then the compile is seen, and named
    assert result["compiled_from_source"] == [str(code / "service/handlers/authorizer.py")]
    assert result["not_from_cache"] == ["service.handlers.authorizer"]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("layer", ["api", "workflow", "ffmpeg"])
def test_the_layers_imported_here_are_the_deployed_ones_but_for_native_code(
    package: Package, layer: str
) -> None:
    deployed, here = package.deployed_layer(layer), package.import_check_layer(layer)
    if deployed == here:
        assert not list(deployed.rglob("*.so")), "no native code: imported as deployed"
        return
    arch = {"arm64": "aarch64", "x86_64": "x86_64"}
    there_tag, here_tag = arch[package.manifest["architecture"]], arch[package.manifest["host_architecture"]]

    def comparable(files: dict[str, bytes], tag: str) -> tuple[dict[str, bytes], set[str]]:
        kept, native = {}, set()
        for name, content in files.items():
            if name.endswith(".so"):
                native.add(name.replace(tag, "<arch>"))
            elif (
                not (".dist-info/" in name and name.split(".dist-info/")[1] in ("WHEEL", "RECORD"))
                and "/sboms/" not in name
            ):
                kept[name] = content
        return kept, native

    deployed_files, deployed_native = comparable(_tree(deployed), there_tag)
    here_files, here_native = comparable(_tree(here), here_tag)
    assert deployed_native == here_native and deployed_native, "the same extension modules"
    assert deployed_files.keys() == here_files.keys()
    differing = [name for name in deployed_files if deployed_files[name] != here_files[name]]
    assert differing == [], "every .py and .pyc is the deployed one"
