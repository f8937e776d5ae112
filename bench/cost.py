"""What one task costs on AWS, from published list prices and the counts the bench measured.

Every count comes from a measured run (:mod:`bench.inprocess`): state transitions from execution
histories, Lambda invocations and their durations from the in-process runner, DynamoDB request
units from counted calls and measured item sizes, S3 PUTs from counted calls. They are measured
per unit — per submit, per status read, per API request (the authorizer), per task (start,
finalize), per poll cycle — and scaled here to a generation of a given length: one poll cycle
per ``poll_interval_s`` of generation, one status read per ``client_interval_s`` until the
client sees SUCCESS (generation plus the measured orchestration overhead). Memory sizes come
from the function catalog.

Not included: the model itself (Replicate bills per second of output video and dwarfs all of
this), CloudWatch Logs and metrics, X-Ray, S3 storage and egress of the video, Secrets Manager
calls (the token is cached for ``secret_max_age_seconds``), free tiers, and Lambda INIT time on
cold starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: When the prices below were taken from AWS's pricing pages (us-east-1, on-demand list prices;
#: DynamoDB's after its 2024-11-01 on-demand price cut). Re-check before quoting them.
PRICES_AS_OF = "2025-05"


@dataclass(frozen=True)
class Price:
    usd: float
    per: int
    unit: str
    source: str

    def of(self, quantity: float) -> float:
        return self.usd * quantity / self.per


PRICES: dict[str, Price] = {
    "step_functions_transitions": Price(
        0.025, 1_000, "Standard workflow state transitions", "https://aws.amazon.com/step-functions/pricing/"
    ),
    "lambda_requests": Price(0.20, 1_000_000, "Lambda requests", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_seconds": Price(
        0.0000133334,
        1,
        "Lambda GB-seconds, arm64 (first 7.5 B/month)",
        "https://aws.amazon.com/lambda/pricing/",
    ),
    "api_gateway_requests": Price(
        3.50,
        1_000_000,
        "API Gateway REST requests (first 333 M/month)",
        "https://aws.amazon.com/api-gateway/pricing/",
    ),
    "dynamodb_write_units": Price(
        0.625,
        1_000_000,
        "DynamoDB on-demand write request units",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "dynamodb_read_units": Price(
        0.125,
        1_000_000,
        "DynamoDB on-demand read request units",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "s3_puts": Price(0.005, 1_000, "S3 Standard PUT requests", "https://aws.amazon.com/s3/pricing/"),
}


@dataclass(frozen=True)
class Scenario:
    generation_s: float
    poll_interval_s: int
    client_interval_s: float
    #: From the model finishing to the client seeing SUCCESS (measured on the twin).
    overhead_s: float

    @property
    def poll_cycles(self) -> int:
        return max(1, math.ceil(self.generation_s / self.poll_interval_s))

    @property
    def status_reads(self) -> int:
        return max(1, math.ceil((self.generation_s + self.overhead_s) / self.client_interval_s))


def usage(measured: dict[str, Any], scenario: Scenario, memory_mb: dict[str, int]) -> dict[str, float]:
    """Billable quantities for one task of ``scenario``, from the measured per-unit figures
    (``bench.inprocess``'s ``workflow`` section)."""
    reads = scenario.status_reads
    cycles = scenario.poll_cycles
    webhooks = float(measured.get("webhooks", {}).get("requests_per_task", 0.0))
    groups: list[tuple[dict[str, Any], float]] = [
        (measured["per_submit"], 1),
        (measured["per_status_read"], reads),
        (measured["per_api_request"], 1 + reads),  # the authorizer, on every request (no cache)
        (measured["per_task_fixed"], 1),
        (measured["per_poll_cycle"], cycles),
        # Replicate's webhooks: the route's invocations, as many as the measured run had per task
        # (start, logs while a model prints, completed; not scaled: the long model, the video,
        # prints nothing, and the music and voice models run seconds whatever the video's length)
        (measured.get("per_webhook", {}), webhooks),
    ]
    quantities = {
        "lambda_requests": 0.0,
        "lambda_gb_seconds": 0.0,
        "dynamodb_read_units": 0.0,
        "dynamodb_write_units": 0.0,
        "s3_puts": 0.0,
    }
    for functions, times in groups:
        for name, figures in functions.items():
            if not times:
                continue
            invocations = figures["invocations"] * times
            quantities["lambda_requests"] += invocations
            billed_s = math.ceil(figures["mean_ms"]) / 1000  # Lambda bills whole milliseconds
            quantities["lambda_gb_seconds"] += invocations * billed_s * memory_mb[name] / 1024
            quantities["dynamodb_read_units"] += figures["dynamodb_read_units"] * times
            quantities["dynamodb_write_units"] += figures["dynamodb_write_units"] * times
            quantities["s3_puts"] += figures["s3_puts"] * times
    transitions = measured["transitions"]
    quantities["step_functions_transitions"] = (
        transitions["fixed_per_task"] + transitions["per_cycle"] * cycles
    )
    quantities["api_gateway_requests"] = 1 + reads + webhooks
    return quantities


def price(quantities: dict[str, float], prices: dict[str, Price] = PRICES) -> dict[str, float]:
    """USD per line and ``total``."""
    lines = {name: prices[name].of(quantity) for name, quantity in quantities.items()}
    lines["total"] = sum(lines.values())
    return lines


def cost_per_task(
    measured: dict[str, Any],
    *,
    generation_s: float,
    poll_interval_s: int,
    client_interval_s: float,
    overhead_s: float,
    memory_mb: dict[str, int],
) -> dict[str, Any]:
    scenario = Scenario(generation_s, poll_interval_s, client_interval_s, overhead_s)
    quantities = usage(measured, scenario, memory_mb)
    usd = price(quantities)
    return {
        "usd": round(usd["total"], 6),
        "usd_by_service": {k: round(v, 7) for k, v in usd.items() if k != "total"},
        "quantities": {k: round(v, 3) for k, v in quantities.items()},
        "poll_cycles": scenario.poll_cycles,
        "status_reads": scenario.status_reads,
    }


def catalog_memory() -> dict[str, int]:
    from service.catalog import FUNCTIONS

    return {spec.name: spec.memory_mb for spec in FUNCTIONS}


def price_list() -> dict[str, Any]:
    return {
        "as_of": PRICES_AS_OF,
        "region": "us-east-1",
        "prices": {
            name: {"usd": p.usd, "per": p.per, "unit": p.unit, "source": p.source}
            for name, p in PRICES.items()
        },
    }
