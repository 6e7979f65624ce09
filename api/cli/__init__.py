"""The `custos` command line. Each module in this package adds its commands via `register`."""

from __future__ import annotations

import typer

from api.cli import cases, disclosure, ingest, jobs, ledger, redaction, tracks, transcripts
from api.cli import reconcile as reconcile_cli
from api.cli import retention as retention_cli
from api.cli import serve as serve_cli
from api.cli import users as users_cli

app = typer.Typer(
    name="custos",
    help="Custos: custody, processing and disclosure of enforcement audio/video records.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

for _module in (cases, disclosure, ingest, jobs, ledger, redaction, tracks, transcripts):
    _module.register(app)
for _module in (reconcile_cli, retention_cli, serve_cli, users_cli):
    _module.register(app)
