"""Issue 12, point 8: the layers install from locks with hashes, generated from pyproject.toml's
ranges (``make lock``), and the tests run exactly the locked versions."""

from __future__ import annotations

from importlib import metadata

import pytest
from packaging.requirements import Requirement

from infra.layer_specs import ALL_LAYERS, LayerSpec, lock_path, project_requirements
from infra.lock import normalise, pins, recorded_input


@pytest.mark.parametrize("spec", ALL_LAYERS, ids=lambda s: s.name)
def test_each_lock_was_resolved_from_pyprojects_current_ranges(spec: LayerSpec) -> None:
    text = lock_path(spec).read_text()
    assert recorded_input(text) == project_requirements(spec.packages), (
        "pyproject.toml changed: run `make lock`"
    )
    pinned = pins(text)
    for requirement in map(Requirement, project_requirements(spec.packages)):
        version = pinned.get(normalise(requirement.name))
        assert version is not None, f"{requirement.name} is not in {lock_path(spec).name}"
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement.name}=={version}"
    if spec.no_deps:
        assert set(pinned) == {normalise(name) for name in spec.packages}


@pytest.mark.parametrize("spec", ALL_LAYERS, ids=lambda s: s.name)
def test_every_pin_carries_hashes(spec: LayerSpec) -> None:
    # pip --require-hashes refuses an entry without one; check it here, offline, not at deploy time
    entries = lock_path(spec).read_text().split("\n")
    blocks, current = [], []
    for line in entries:
        if line and not line.startswith((" ", "#")):
            current = [line]
            blocks.append(current)
        elif current:
            current.append(line)
    assert blocks
    for block in blocks:
        assert "==" in block[0] and any("--hash=sha256:" in line for line in block), block[0]


def test_the_tests_run_the_locked_versions() -> None:
    locked: dict[str, str] = {}
    for spec in ALL_LAYERS:
        for name, version in pins(lock_path(spec).read_text()).items():
            assert locked.setdefault(name, version) == version, f"{name}: the locks disagree"
    installed = {name: metadata.version(name) for name in locked}
    assert installed == locked, "the environment differs from the locks: `make test` reinstalls it"


def test_the_api_layer_shares_the_workflow_layers_pins() -> None:
    from infra.layer_specs import API_LAYER, WORKFLOW_LAYER

    api, workflow = pins(lock_path(API_LAYER).read_text()), pins(lock_path(WORKFLOW_LAYER).read_text())
    assert api.items() <= workflow.items()
