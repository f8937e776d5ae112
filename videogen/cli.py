"""``videogen``: the local twin and operator commands.

``videogen serve [--port N]`` runs the whole service offline (see ``twin.server``).

``videogen emulator [--port N]`` runs only the Replicate emulator, for anyone developing against
Replicate offline (see ``replicate_emulator``; ``--help`` lists its options).

``videogen tokens create --owner NAME [--expires-in 30d] [--max-in-flight N] [--per-minute N]
[--per-day N]`` prints a new API token once (only its SHA-256 hash is stored);
``videogen tokens update --owner NAME [--max-in-flight N|default] ...`` changes an owner's limits;
``videogen tokens revoke TOKEN`` or ``--owner NAME`` removes tokens. The tables come from
``VIDEOGEN_TOKENS_TABLE`` and ``VIDEOGEN_OWNERS_TABLE``, the stage's usage plan from
``VIDEOGEN_USAGE_PLAN_ID`` (the stack's outputs), AWS from the usual environment
(``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` for the local twin).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from replicate_emulator.options import add_arguments as emulator_arguments
from service.adapters.owners_table import LIMIT_FIELDS, OwnersTable
from service.adapters.tokens_table import TokensTable
from service.adapters.usage_plans import UsagePlans
from service.domain.auth import hash_token
from service.domain.operators import Operators
from service.settings import ConfigurationError, OperatorSettings
from videogen_client import cli as client_cli

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
NO_PLAN_WARNING = (
    "videogen: VIDEOGEN_USAGE_PLAN_ID is not set: this owner has no usage plan key, and a stage "
    "that meters owners (every stack of ours) answers 403 to its requests until "
    "'videogen tokens update --owner NAME' runs with it set"
)


def duration_seconds(text: str) -> int:
    """``30d``, ``12h``, ``90m``, ``3600s`` or ``3600`` → seconds (argparse type)."""
    found = _DURATION.match(text.strip().lower())
    if not found or int(found.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a positive number with s, m, h or d (e.g. 30d)")
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)]


def limit_value(text: str) -> int | None:
    """A positive integer, or ``default`` (remove the owner's override) (argparse type)."""
    if text.strip().lower() == "default":
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a positive integer, or 'default'")
    return int(text)


def _operators() -> Operators:
    settings = OperatorSettings.from_environment()
    return Operators(
        TokensTable(settings.tokens_table),
        OwnersTable(settings.owners_table) if settings.owners_table else None,
        UsagePlans(settings.usage_plan_id) if settings.usage_plan_id else None,
    )


def _tokens_table() -> TokensTable:
    return _operators().tokens


def _limits(args: argparse.Namespace) -> dict[str, int | None]:
    """The limits given on the command line (``default`` included, as None)."""
    given = {name: getattr(args, name) for name in LIMIT_FIELDS if getattr(args, name) is not _UNSET}
    return given


class _Unset:
    def __repr__(self) -> str:
        return "unset"


_UNSET = _Unset()


def tokens_create(
    owner: str, expires_in_s: int | None = None, limits: dict[str, int | None] | None = None
) -> int:
    operators = _operators()
    if operators.plans is None:
        print(NO_PLAN_WARNING, file=sys.stderr)
    token = operators.create_token(owner, expires_in_s=expires_in_s, limits=limits)
    print(token)
    expiry = f" It expires in {expires_in_s} s." if expires_in_s else ""
    print(f"Token created for owner '{owner}'.{expiry} It is shown only once: store it now.", file=sys.stderr)
    return 0


def tokens_update(owner: str, limits: dict[str, int | None]) -> int:
    operators = _operators()
    if operators.plans is None:
        print(NO_PLAN_WARNING, file=sys.stderr)
    count = operators.update_owner(owner, limits=limits)
    changed = ", ".join(f"{k}={'default' if v is None else v}" for k, v in limits.items()) or "no limit"
    print(f"Owner '{owner}' updated ({changed}); it has {count} token(s).", file=sys.stderr)
    return 0


def tokens_revoke(token: str | None, owner: str | None) -> int:
    table = _tokens_table()
    if token:
        if not table.delete(hash_token(token)):
            print("videogen: no such token", file=sys.stderr)
            return 1
        print("Token revoked.", file=sys.stderr)
        return 0
    removed = table.delete_owner(str(owner))
    print(f"Revoked {removed} token(s) of owner '{owner}'.", file=sys.stderr)
    return 0 if removed else 1


#: Models run for a tenth of their typical time in the twin: a Kling clip takes ~18 s instead of
#: ~3 minutes, and a task's progress still climbs over several polls as it does against Replicate.
TWIN_MODEL_TIME_SCALE = 0.1


def serve(
    host: str,
    port: int,
    public_url: str | None,
    model_time_scale: float = TWIN_MODEL_TIME_SCALE,
    replicate_webhooks: bool = True,
) -> int:
    """``videogen serve``: the local twin until Ctrl-C or SIGTERM (see ``twin.server``)."""
    from twin.server import TwinConfig
    from twin.server import serve as run_twin

    token = os.environ.get("VIDEOGEN_TOKEN") or None
    config = TwinConfig(
        host=host,
        port=port,
        token=token,
        public_url=public_url,
        model_time_scale=model_time_scale,
        replicate_webhooks=replicate_webhooks,
    )
    return run_twin(config)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="videogen", description="Video generation service: operator commands")
    commands = root.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="Run the local twin: the whole service offline")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, default=8000, help="Port of the API (default 8000)")
    serve_cmd.add_argument(
        "--public-url",
        default=os.environ.get("VIDEOGEN_PUBLIC_URL") or None,
        help="The address clients reach the twin at, when it sits behind a proxy "
        "(default http://HOST:PORT; env VIDEOGEN_PUBLIC_URL)",
    )
    serve_cmd.add_argument(
        "--model-time-scale",
        type=float,
        default=TWIN_MODEL_TIME_SCALE,
        metavar="FACTOR",
        help="models run this share of their typical time (default 0.1: a Kling clip ~18 s; 0: as fast as possible)",
    )
    serve_cmd.add_argument(
        "--no-replicate-webhooks",
        dest="replicate_webhooks",
        action="store_false",
        help="the emulated Replicate sends no webhooks: the workflow polls every 5 s (as a deployment "
        "without a public webhook URL)",
    )

    emulator_arguments(
        commands.add_parser(
            "emulator",
            help="Run only the Replicate emulator (its models, 422s, rate limits, data removal, faults)",
            description="A Replicate-compatible API on your machine: the official replicate client "
            "works against it with REPLICATE_BASE_URL (or base_url=) pointing here.",
        )
    )

    tokens = commands.add_parser("tokens", help="Manage API tokens")
    token_commands = tokens.add_subparsers(dest="action", required=True)
    create = token_commands.add_parser("create", help="Create a token for an owner and print it once")
    create.add_argument("--owner", required=True, help="Owner id: tasks belong to it")
    create.add_argument(
        "--expires-in",
        type=duration_seconds,
        default=None,
        help="The token stops working after this long: 30d, 12h, 90m, 3600s (default: never)",
    )
    update = token_commands.add_parser(
        "update", help="Change an owner's limits (and give its tokens the usage plan key)"
    )
    update.add_argument("--owner", required=True, help="Owner id")
    for command in (create, update):
        for name, what in (
            ("max_in_flight", "tasks in flight at once"),
            ("per_minute", "submits per minute"),
            ("per_day", "submits per UTC day"),
        ):
            command.add_argument(
                f"--{name.replace('_', '-')}",
                dest=name,
                type=limit_value,
                default=_UNSET,
                metavar="N",
                help=f"The owner's limit of {what} ('default': the deployment's)",
            )
    revoke = token_commands.add_parser("revoke", help="Remove a token (or every token of an owner)")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("token", nargs="?", help="The token to revoke")
    which.add_argument("--owner", help="Revoke every token of this owner")
    client_cli.add_commands(root, commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in client_cli.COMMANDS:
        return client_cli.run(args)
    if args.command == "serve":
        return serve(args.host, args.port, args.public_url, args.model_time_scale, args.replicate_webhooks)
    if args.command == "emulator":
        from replicate_emulator.__main__ import serve as serve_emulator

        return serve_emulator(args)
    try:
        if args.command == "tokens" and args.action in ("create", "update"):
            if not args.owner.strip():
                print("videogen: --owner must not be empty", file=sys.stderr)
                return 2
            if args.action == "create":
                return tokens_create(args.owner.strip(), args.expires_in, _limits(args))
            return tokens_update(args.owner.strip(), _limits(args))
        if args.command == "tokens" and args.action == "revoke":
            return tokens_revoke(args.token, args.owner)
    except (BotoCoreError, ClientError) as error:
        print(f"videogen: AWS error: {error}", file=sys.stderr)
        return 1
    except ConfigurationError as error:
        print(f"videogen: {error}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
