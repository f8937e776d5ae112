"""``videogen``: the local twin and operator commands.

``videogen serve [--port N]`` runs the whole service offline (see ``twin.server``).

``videogen emulator [--port N]`` runs only the Replicate emulator, for anyone developing against
Replicate offline (see ``replicate_emulator``; ``--help`` lists its options).

``videogen tokens create --owner NAME`` prints a new API token once (only its SHA-256 hash is
stored); ``videogen tokens revoke TOKEN`` or ``--owner NAME`` removes tokens. The tokens table
comes from ``VIDEOGEN_TOKENS_TABLE`` and AWS from the usual environment (``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL`` for the local twin).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from replicate_emulator.options import add_arguments as emulator_arguments
from service.adapters.tokens_table import TokensTable
from service.domain.auth import hash_token, new_token
from service.settings import ConfigurationError, TokensSettings
from videogen_client import cli as client_cli


def _tokens_table() -> TokensTable:
    return TokensTable(TokensSettings.from_environment().tokens_table)


def tokens_create(owner: str) -> int:
    table = _tokens_table()
    token = new_token()
    table.put(hash_token(token), owner)
    print(token)
    print(f"Token created for owner '{owner}'. It is shown only once: store it now.", file=sys.stderr)
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
    host: str, port: int, public_url: str | None, model_time_scale: float = TWIN_MODEL_TIME_SCALE
) -> int:
    """``videogen serve``: the local twin until Ctrl-C or SIGTERM (see ``twin.server``)."""
    from twin.server import TwinConfig
    from twin.server import serve as run_twin

    token = os.environ.get("VIDEOGEN_TOKEN") or None
    config = TwinConfig(
        host=host, port=port, token=token, public_url=public_url, model_time_scale=model_time_scale
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
        return serve(args.host, args.port, args.public_url, args.model_time_scale)
    if args.command == "emulator":
        from replicate_emulator.__main__ import serve as serve_emulator

        return serve_emulator(args)
    try:
        if args.command == "tokens" and args.action == "create":
            if not args.owner.strip():
                print("videogen: --owner must not be empty", file=sys.stderr)
                return 2
            return tokens_create(args.owner.strip())
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
