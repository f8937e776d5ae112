"""The model catalog (one declarative place), the settings that refuse what Replicate would, and the
error wording that keeps the provider and its model names out of what the owner reads."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from service.domain.errors import public_text
from service.model_catalog import CATALOG_FILE, CatalogError, ModelRef, catalog, load
from service.settings import ConfigurationError, SubmitSettings

RESOURCES = {
    "VIDEOGEN_TASKS_TABLE": "tasks",
    "VIDEOGEN_OWNERS_TABLE": "owners",
    "VIDEOGEN_STATE_MACHINE_ARN": "arn:aws:states:::x",
    "VIDEOGEN_IDEMPOTENCY_TABLE": "idempotency",
}

PINNED_MUSIC = "meta/musicgen:671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb"
PINNED_SPEECH = "jaaari/kokoro-82m:f559560eb822dc509045f3921a1921234918b91739db4bf3daab2169b71c7a13"


def test_the_catalog_describes_each_model_with_its_sources() -> None:
    raw = json.loads(CATALOG_FILE.read_text())
    assert date.fromisoformat(raw["checked"]) <= date.today()
    assert set(catalog().models) == {
        "kwaivgi/kling-v1.6-pro",
        "kwaivgi/kling-v1.6-standard",
        "meta/musicgen",
        "jaaari/kokoro-82m",
    }
    for entry in catalog().models.values():
        assert re.fullmatch(r"[0-9a-f]{64}", entry.version)
        assert entry.sources and all(s.url and s.what for s in entry.sources)
        assert entry.output_schema == {"type": "string", "title": "Output", "format": "uri"}  # one URL
        for name in entry.input_names:  # every reference resolves, every field has a JSON type
            assert entry.field(name).get("type") in ("string", "integer", "number", "boolean", "array")
        assert set(entry.required) <= set(entry.input_names)
        assert entry.progress.typical_seconds > 0


def test_official_models_run_by_name_community_models_only_pinned() -> None:
    assert catalog().models["kwaivgi/kling-v1.6-pro"].official
    assert not catalog().models["meta/musicgen"].official
    assert catalog().default("music") == PINNED_MUSIC and catalog().default("speech") == PINNED_SPEECH
    assert catalog().check(PINNED_MUSIC, "music") == PINNED_MUSIC
    with pytest.raises(CatalogError, match="community model: Replicate runs it only by version"):
        catalog().check("meta/musicgen", "music")
    with pytest.raises(CatalogError, match="not the version the catalog describes"):
        catalog().check("meta/musicgen:" + "0" * 64, "music")
    with pytest.raises(CatalogError, match="cannot be the transition model"):
        catalog().check("kwaivgi/kling-v1.6-standard", "transition")  # no end_image
    with pytest.raises(CatalogError, match="not in the model catalog"):
        catalog().check("nobody/model", "dream")
    with pytest.raises(CatalogError, match="not a model reference"):
        ModelRef.parse("meta/musicgen:abc")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "VIDEOGEN_MUSIC_MODEL",
            "meta/musicgen",
            "VIDEOGEN_MUSIC_MODEL: Value error, meta/musicgen is a community model",
        ),
        (
            "VIDEOGEN_TTS_MODEL",
            "jaaari/kokoro-82m",
            "VIDEOGEN_TTS_MODEL: Value error, jaaari/kokoro-82m is a community model",
        ),
        (
            "VIDEOGEN_TRANSITION_MODEL",
            "nobody/x",
            "VIDEOGEN_TRANSITION_MODEL: Value error, nobody/x is not in the model catalog",
        ),
        (
            "VIDEOGEN_DREAM_MODEL",
            "meta/musicgen:" + "1" * 64,
            "VIDEOGEN_DREAM_MODEL: Value error, meta/musicgen cannot be",
        ),
    ],
)
def test_settings_refuse_at_cold_start_what_replicate_would_refuse_later(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        SubmitSettings.from_environment({**RESOURCES, variable: value})


def test_settings_take_the_catalogs_defaults_and_pinned_overrides() -> None:
    settings = SubmitSettings.from_environment(RESOURCES)
    assert (settings.transition_model, settings.dream_model) == (
        "kwaivgi/kling-v1.6-pro",
        "kwaivgi/kling-v1.6-standard",
    )
    assert (settings.music_model, settings.tts_model) == (PINNED_MUSIC, PINNED_SPEECH)
    pinned = "kwaivgi/kling-v1.6-pro:" + catalog().models["kwaivgi/kling-v1.6-pro"].version
    assert (
        SubmitSettings.from_environment({**RESOURCES, "VIDEOGEN_TRANSITION_MODEL": pinned}).transition_model
        == pinned
    )


def test_a_catalog_whose_defaults_do_not_pass_its_own_checks_does_not_load(
    tmp_path: pytest.TempPathFactory,
) -> None:
    raw = json.loads(CATALOG_FILE.read_text())
    raw["defaults"]["music"] = "meta/musicgen"
    broken = tmp_path / "catalog.json"
    broken.write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match="community model"):
        load(broken)


def test_provider_words_are_reworded_in_the_apis_terms() -> None:
    fields = {"start_image": "front_image", "end_image": "tail_image"}
    own = "https://me.example/front%20photo.jpg"
    text = (
        f"Could not fetch start_image from {own}: HTTP 404; see https://replicate.delivery/abc/out.mp4. "
        f"- input.end_image: Does not match format 'uri' ({PINNED_MUSIC} on Replicate)"
    )
    out = public_text(text, fields=fields, own_urls=[own], model_refs=[PINNED_MUSIC])
    assert out == (
        f"Could not fetch front_image from {own}: HTTP 404; see a URL. "
        "- tail_image: Does not match format 'uri' (the model on the model service)"
    )
    assert public_text("meta/musicgen crashed", fields={}, model_refs=[PINNED_MUSIC]) == "the model crashed"
    assert (
        public_text("the start_images_count", fields=fields) == "the start_images_count"
    )  # whole words only
