"""The dashboard page (``web/``): a private bucket behind CloudFront (origin access control), the
built page deployed into it with a ``config.json`` naming the API, and the CORS that lets the page
(and, unless an operator narrows it, any browser app) call the API and the media bucket.

Synthesis never needs the page built: its asset is the ``web/`` folder with *local bundling*
(``npm ci`` and ``vite build`` on the deploying machine, as the Lambda layers are built with pip),
and the tests and ``make synth`` skip bundling (``aws:cdk:bundling-stacks = []``), so CDK stages the
sources under a stand-in hash. ``cdk deploy`` always builds the page from the lockfile: what is
deployed is never a stale ``web/dist`` left on someone's disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import REPO_ROOT, StackConfig
from service.catalog import MEDIA_CORS

WEB_ROOT = REPO_ROOT / "web"
#: Security headers, shared with the twin (twin/web.py) so the browser tests run under them.
SECURITY_HEADERS: dict[str, str] = {
    k: v for k, v in json.loads((WEB_ROOT / "headers.json").read_text()).items() if not k.startswith("_")
}
#: Content-hashed files: cached for a year. index.html and config.json: revalidated on every load.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
ENTRY_FILES = ("index.html", "config.json")


def allowed_origins(configured: tuple[str, ...], page_origin: str | None) -> list[str]:
    """CORS origins for the API and the media: ``*`` as configured (customers' own browser apps
    call with a token in a header, no cookies), or the operator's list with the page's first."""
    if "*" in configured:
        return ["*"]
    listed = [page_origin] if page_origin else []
    return listed + [origin for origin in configured if origin != page_origin]


@jsii.implements(ILocalBundling)
class PageBuild:
    """``ILocalBundling``: ``npm ci`` and ``vite build`` into the asset's output folder."""

    def try_bundle(self, output_dir: str, *_options: Any, **_kwargs: Any) -> bool:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("deploying the dashboard page needs npm (Node.js 20.19+) on this machine")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB_ROOT, check=True)
        subprocess.run(
            [npm, "run", "build", "--", "--outDir", output_dir, "--emptyOutDir", "--logLevel", "warn"],
            cwd=WEB_ROOT,
            check=True,
        )
        # The deployment writes the real one (the API's URL); the build's says "this origin".
        (Path(output_dir) / "config.json").unlink(missing_ok=True)
        return True


def page_source() -> s3deploy.ISource:
    return s3deploy.Source.asset(
        str(WEB_ROOT),
        # The built output's hash: the page also bundles clients/js, outside web/.
        asset_hash_type=AssetHashType.OUTPUT,
        exclude=["node_modules", "dist", "test-results", "tests"],
        bundling=BundlingOptions(
            local=PageBuild(),
            # Never run while local bundling succeeds; it documents the build (and keys CDK's cache).
            image=DockerImage.from_registry("node:20-slim"),
            command=[
                "sh",
                "-c",
                "npm ci && npx vite build --outDir /asset-output && rm /asset-output/config.json",
            ],
        ),
    )


class Web(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, storage: Any) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.bucket = self._build_bucket(storage.access_logs_bucket)
        self.logs_bucket = self._build_logs_bucket(config)
        self.distribution = self._build_distribution(config)
        #: The page's origin, for the API's and the media bucket's CORS.
        self.origin = f"https://{self.distribution.distribution_domain_name}"
        self.url = f"{self.origin}/"
        self._media_bucket: s3.Bucket = storage.media_bucket

    # -- parts -----------------------------------------------------------------------------------------
    def _build_bucket(self, access_logs: s3.IBucket) -> s3.Bucket:
        # Retained like the other buckets: the page is rebuilt by any deploy, nothing is lost.
        return s3.Bucket(
            self,
            "PageBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,  # CloudFront's OAC reads SSE-S3 without a KMS grant
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="web/",
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _build_logs_bucket(self, config: StackConfig) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "CdnLogsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            # CloudFront's standard logs are delivered with ACLs: the one bucket here that keeps them.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.log_retention_days))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            bucket,
            [
                NagPackSuppression(
                    id="AwsSolutions-S1",
                    reason="This bucket receives CloudFront's access logs; logging it would log the "
                    "log deliveries (and CloudFront's logs need ACLs, which the access-log bucket refuses).",
                )
            ],
        )
        return bucket

    def _build_distribution(self, config: StackConfig) -> cloudfront.Distribution:
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment=f"{config.prefix} dashboard: CSP and the usual security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=SECURITY_HEADERS["Content-Security-Policy"], override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
            ),
        )
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"{config.prefix} dashboard page",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                # Honours the objects' Cache-Control: a year for hashed assets, no-cache for the entry
                # files, so a deploy needs no invalidation (and no cloudfront:* grant).
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                compress=True,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=self.logs_bucket,
            log_file_prefix="cloudfront/",
        )
        NagSuppressions.add_resource_suppressions(
            distribution,
            [
                NagPackSuppression(
                    id="AwsSolutions-CFR1",
                    reason="The page is for the API's customers wherever they are; the API's tokens, "
                    "not geography, decide who may use it.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-CFR2",
                    reason="Static files only: no server-side logic behind the distribution to protect; "
                    "the API it calls has its own token authorizer and throttling.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-CFR4",
                    reason="Served on the default *.cloudfront.net certificate, which fixes the minimum "
                    "TLS version; with a custom domain set TLSv1.2_2021 (docs/operations.md).",
                ),
            ],
        )
        return distribution

    # -- after the API exists --------------------------------------------------------------------------
    def publish(self, *, api_url: str, cors_origins: list[str]) -> None:
        """Deploy the built page with a ``config.json`` naming ``api_url``; let ``cors_origins``
        PUT uploads to and read media from the media bucket (the page's <video> and WebVTT
        <track> load with crossorigin)."""
        page = page_source()
        assets = s3deploy.BucketDeployment(
            self,
            "DeployAssets",
            sources=[page],
            destination_bucket=self.bucket,
            exclude=list(ENTRY_FILES),
            cache_control=[s3deploy.CacheControl.from_string(IMMUTABLE)],
            # Keep earlier builds' hashed files: a page loaded before this deploy still finds them.
            prune=False,
        )
        entry = s3deploy.BucketDeployment(
            self,
            "DeployEntry",
            sources=[page, s3deploy.Source.json_data("config.json", {"apiUrl": api_url})],
            destination_bucket=self.bucket,
            exclude=["*"],
            include=list(ENTRY_FILES),
            cache_control=[s3deploy.CacheControl.from_string(REVALIDATE)],
            prune=False,
        )
        entry.node.add_dependency(assets)  # the new index.html never names files not yet uploaded
        self._media_bucket.add_cors_rule(
            allowed_methods=[s3.HttpMethods(method) for method in MEDIA_CORS.methods],
            allowed_origins=cors_origins,
            allowed_headers=list(MEDIA_CORS.headers),
            max_age=MEDIA_CORS.max_age_s,
        )
        self._suppress_deployment_findings(assets)

    def _suppress_deployment_findings(self, deployment: s3deploy.BucketDeployment) -> None:
        """CDK's BucketDeployment brings one Lambda (a singleton per stack) with its own role."""
        stack = Stack.of(self)
        reasons = [
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                reason="CDK's BucketDeployment handler (a CDK-managed custom resource) logs with "
                "AWSLambdaBasicExecutionRole; it runs only during deployments.",
                applies_to=[
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                ],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="CDK's BucketDeployment reads the page's asset from the bootstrap bucket and "
                "syncs it into the page bucket (s3:GetObject*/List*/DeleteObject* on that bucket's "
                "objects); CDK scopes the grants to those two buckets.",
            ),
            NagPackSuppression(
                id="AwsSolutions-L1",
                reason="The runtime of CDK's BucketDeployment handler is chosen by CDK and moves with it.",
            ),
        ]
        for child in stack.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                NagSuppressions.add_resource_suppressions(child, reasons, apply_to_children=True)
        NagSuppressions.add_resource_suppressions(deployment.handler_role, reasons, apply_to_children=True)
