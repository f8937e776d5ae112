"""The dashboard page in the stack (infra/web.py): a private bucket behind CloudFront with origin
access control, the page deployed with a config.json naming the API, the CORS that lets it (and,
unless narrowed, any browser app) call the API and the media, cdk-nag clean (test_stack.py). Offline,
from the shared synthesis: the page is never built for it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synth
from tests.infra.test_stack import _methods, as_list, is_cdk_deployment, only, render

ROOT = Path(__file__).resolve().parents[2]
HEADERS = json.loads((ROOT / "web/headers.json").read_text())


def distribution(synth: Synth) -> tuple[str, dict[str, Any]]:
    return only(synth.of_type("AWS::CloudFront::Distribution"))


def page_bucket(synth: Synth) -> tuple[str, dict[str, Any]]:
    return only({k: v for k, v in synth.of_type("AWS::S3::Bucket").items() if k.startswith("WebPageBucket")})


def deployments(synth: Synth) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in synth.of_type("Custom::CDKBucketDeployment").items()}


def test_page_bucket_is_private_encrypted_logged_and_read_only_by_the_distribution(synth: Synth) -> None:
    bucket_id, bucket = page_bucket(synth)
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "web/"
    assert "WebsiteConfiguration" not in props, "served by CloudFront only, never as a public website"

    distribution_id, _ = distribution(synth)
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    reads = [s for s in policy if s["Effect"] == "Allow"]
    assert len(reads) == 1
    (read,) = reads
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Action"] == "s3:GetObject"
    assert render(read["Resource"]).endswith("/*")
    assert distribution_id in render(read["Condition"]["StringEquals"]["AWS:SourceArn"]), (
        "only our distribution"
    )
    denies = [s for s in policy if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_distribution_uses_origin_access_control_https_and_the_pages_security_headers(synth: Synth) -> None:
    _, resource = distribution(synth)
    config = resource["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["Compress"] is True
    (origin,) = config["Origins"]
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}, "no legacy OAI"
    oac_id, oac = only(synth.of_type("AWS::CloudFront::OriginAccessControl"))
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert oac["Properties"]["OriginAccessControlConfig"] == {
        "Name": oac["Properties"]["OriginAccessControlConfig"]["Name"],
        "OriginAccessControlOriginType": "s3",
        "SigningBehavior": "always",
        "SigningProtocol": "sigv4",
    }
    assert config["Logging"]["Prefix"] == "cloudfront/"

    policy_id, policy = only(synth.of_type("AWS::CloudFront::ResponseHeadersPolicy"))
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": policy_id}
    security = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["ContentSecurityPolicy"]["ContentSecurityPolicy"] == HEADERS["Content-Security-Policy"]
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == HEADERS["Referrer-Policy"]
    assert "ContentTypeOptions" in security and security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 365 * 24 * 3600


def test_the_page_is_deployed_with_a_config_json_naming_this_api(synth: Synth) -> None:
    found = deployments(synth)
    assert len(found) == 2
    bucket_id, _ = page_bucket(synth)
    entry = only({k: v for k, v in found.items() if v.get("Include")})[1]
    assets = only({k: v for k, v in found.items() if not v.get("Include")})[1]
    for props in (entry, assets):
        assert props["DestinationBucketName"] == {"Ref": bucket_id}
        assert props["Prune"] is False, "a page loaded before a deploy still finds its files"
    assert assets["Exclude"] == ["index.html", "config.json"]
    assert assets["SystemMetadata"]["cache-control"] == "public, max-age=31536000, immutable"
    assert (entry["Exclude"], entry["Include"]) == (["*"], ["index.html", "config.json"])
    assert entry["SystemMetadata"]["cache-control"] == "no-cache"
    assert entry["SourceObjectKeys"][0] == assets["SourceObjectKeys"][0], "the same build"
    # config.json: {"apiUrl": <the stage's URL>}, filled in at deploy time.
    (marker,) = entry["SourceMarkers"][1].values()
    api_id, _ = only(synth.of_type("AWS::ApiGateway::RestApi"))
    url = render(marker)
    assert url.startswith('"https://<' + api_id + ">.execute-api.") and url.endswith('/"'), url
    # The entry files go up after the hashed files they name.
    entry_id = next(k for k, v in found.items() if v.get("Include"))
    assets_id = next(k for k, v in found.items() if not v.get("Include"))
    assert assets_id in as_list(synth.resources[entry_id].get("DependsOn", []))


def test_page_url_is_an_output(synth: Synth) -> None:
    distribution_id, _ = distribution(synth)
    output = synth.template_json["Outputs"]["PageUrl"]
    assert render(output["Value"]) == f"https://<{distribution_id}.DomainName>/"


def test_the_deployment_handler_may_touch_the_page_bucket_and_its_assets_only(synth: Synth) -> None:
    bucket_id, _ = page_bucket(synth)
    (role_id,) = [k for k in synth.of_type("AWS::IAM::Role") if is_cdk_deployment(k)]
    statements = [
        s
        for p in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    resources = {render(r) for s in statements for r in as_list(s["Resource"])}
    assert resources, statements
    for resource in resources:
        assert f"<{bucket_id}.Arn>" in resource or "cdk-hnb659fds-assets" in resource, resource
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not any(a.startswith(("cloudfront:", "dynamodb:", "states:", "secretsmanager:")) for a in actions)
    writes = {
        render(r)
        for s in statements
        for r in as_list(s["Resource"])
        for a in as_list(s["Action"])
        if "Put" in a
    }
    assert writes and all(bucket_id in r for r in writes), "writes only into the page bucket"


def test_cors_by_default_serves_any_browser_app(synth: Synth) -> None:
    # Customers' own browser apps call with a token in a header, no cookies: '*' is the default.
    assert synth.config.cors_allow_origins == ("*",)
    _, media = only(
        {k: v for k, v in synth.of_type("AWS::S3::Bucket").items() if k.startswith("StorageMediaBucket")}
    )
    assert media["Properties"]["CorsConfiguration"]["CorsRules"] == [
        {
            "AllowedHeaders": ["Content-Type"],
            "AllowedMethods": ["GET", "HEAD", "PUT"],
            "AllowedOrigins": ["*"],
            "MaxAge": 3600,
        }
    ]
    for response in synth.of_type("AWS::ApiGateway::GatewayResponse").values():
        assert (
            response["Properties"]["ResponseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
            == "'*'"
        )


@pytest.fixture(scope="module")
def narrowed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A second, smaller synthesis (no cdk-nag) with the operator's list of origins."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra import SKIP_BUNDLING
    from infra.config import StackConfig, cdk_json_context
    from infra.stack import VideoGenStack

    app = App(
        context={**cdk_json_context(), **SKIP_BUNDLING, "cors_allow_origins": "https://app.example.com"},
        outdir=str(tmp_path_factory.mktemp("narrowed")),
    )
    stack = VideoGenStack(app, "Narrowed", config=StackConfig.from_node(app.node))
    return dict(Template.from_stack(stack).to_json())


def test_an_operator_can_narrow_cors_to_a_list_that_always_includes_the_page(
    narrowed: dict[str, Any],
) -> None:
    resources = narrowed["Resources"]
    (distribution_id,) = [k for k, v in resources.items() if v["Type"] == "AWS::CloudFront::Distribution"]
    page = f"https://<{distribution_id}.DomainName>"
    synth = Synth(
        stack=None, template=None, template_json=narrowed, template_path=Path(), assembly_dir=Path()
    )

    for (method, path), props in _methods(synth).items():
        if method != "OPTIONS":
            continue
        headers = props["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
        assert render(headers["method.response.header.Access-Control-Allow-Origin"]) == f"'{page}'", path
        assert headers["method.response.header.Vary"] == "'Origin'"
        template = props["Integration"]["IntegrationResponses"][0]["ResponseTemplates"]["application/json"]
        assert '$origin == "https://app.example.com"' in render(template), path
    media = next(
        v
        for k, v in resources.items()
        if k.startswith("StorageMediaBucket") and v["Type"] == "AWS::S3::Bucket"
    )
    (rule,) = media["Properties"]["CorsConfiguration"]["CorsRules"]
    assert [render(o) for o in rule["AllowedOrigins"]] == [page, "https://app.example.com"]
    for response in (v for v in resources.values() if v["Type"] == "AWS::ApiGateway::GatewayResponse"):
        parameters = response["Properties"]["ResponseParameters"]
        assert (
            parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == "method.request.header.Origin"
        )
        assert parameters["gatewayresponse.header.Vary"] == "'Origin'"


def test_allowed_origins() -> None:
    from infra.web import allowed_origins

    assert allowed_origins(("*",), "https://page") == ["*"]
    assert allowed_origins(("https://a", "https://page"), "https://page") == ["https://page", "https://a"]
    assert allowed_origins(("https://a",), None) == ["https://a"]


@pytest.mark.parametrize(
    "origins", ["*,https://app.example.com", "app.example.com", "https://app.example.com/path"]
)
def test_a_malformed_origins_list_fails_synthesis_with_a_clear_message(origins: str) -> None:
    from aws_cdk import App

    from infra.config import ConfigError, StackConfig

    with pytest.raises(ConfigError, match="cors_allow_origins"):
        StackConfig.from_node(App(context={"cors_allow_origins": origins}).node)


def test_synthesis_needs_no_built_page_and_deploys_build_it_from_the_lockfile(
    synth: Synth, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Offline synthesis stages the page's sources (bundling skipped), never web/dist.
    manifest = json.loads(next(synth.assembly_dir.glob("*.assets.json")).read_text())
    paths = {Path(f["source"]["path"]) for f in manifest["files"].values()}
    assert ROOT / "web" in paths
    assert not any("dist" in p.parts for p in paths)

    # On deploy, CDK's local bundling runs npm ci and vite build into the asset's folder, and
    # drops the build's config.json (the deployment writes the real one).
    from infra import web

    calls: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        if "build" in command:
            (tmp_path / "index.html").write_text("<!doctype html>")
            (tmp_path / "config.json").write_text('{"apiUrl": ""}')
        assert kwargs["cwd"] == web.WEB_ROOT and kwargs["check"] is True
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(web.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(web.subprocess, "run", fake_run)
    assert web.PageBuild().try_bundle(str(tmp_path)) is True
    assert calls[0][:2] == ["/usr/bin/npm", "ci"]
    assert calls[1][:3] == ["/usr/bin/npm", "run", "build"] and str(tmp_path) in calls[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]

    monkeypatch.setattr(web.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs npm"):
        web.PageBuild().try_bundle(str(tmp_path))
