"""`custos verify`, `custos withdraw`, `custos exports`, `custos revocations`: export packages
after they are made: check one offline, withdraw one, list them, publish the withdrawn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from api.cli.common import config_problem, console, err_console, fail, print_json, services
from api.services import disclosure as disclosure_service
from disclosure.exports import ExportError
from disclosure.package import iso_utc, verify_package
from storage.config import ConfigError, get_settings
from storage.errors import LedgerError
from storage.ledger_keys import PublicKey, load_keys, parse_public_key


def _public_key(value: str | None) -> PublicKey:
    """--key (raw hex, PEM text or a PEM file), else this deployment's ledger public key."""
    if value is not None:
        try:
            return parse_public_key(value)
        except LedgerError as exc:
            fail(f"--key: {str(exc).replace('CUSTOS_LEDGER_PUBLIC_KEY', 'the key')}", 2)
    try:
        keys = load_keys(get_settings())
    except (ConfigError, ValidationError) as exc:
        fail(f"bad configuration: {config_problem(exc)}", 2)
    if keys.verifier is None:
        fail(
            "no public key to verify with: pass --key, or set CUSTOS_LEDGER_PUBLIC_KEY "
            f"({keys.problem or 'no ledger key'})",
            2,
        )
    return keys.verifier


def register(app: typer.Typer) -> None:
    @app.command("verify")
    def verify(
        package: Annotated[Path, typer.Argument(help="the export package (.zip)")],
        key: Annotated[
            str | None,
            typer.Option(
                "--key",
                help="public key: a PEM file, PEM text or 64 hex digits "
                "(default: this deployment's ledger key)",
            ),
        ] = None,
        revocations: Annotated[
            Path | None,
            typer.Option(help="a signed revocation list (`custos revocations --out`)"),
        ] = None,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Check a package offline: every file against its manifest, both signatures, and
        the revocation list when given. Exit 0 valid, 1 invalid, 2 usage error."""
        if not package.is_file():
            fail(f"no such package: {package}", 2)
        if revocations is not None and not revocations.is_file():
            fail(f"no such revocation list: {revocations}", 2)
        public = _public_key(key)
        try:
            result = verify_package(package, public, revocations)
        except OSError as exc:
            fail(f"cannot verify {package}: {exc}", 2)
        if json_out:
            print_json(result.to_json())
        elif result.ok:
            console.print(
                f"[green]package valid[/]: export {result.export_id} of recording "
                f"{result.recording_id}, {result.files} files, signed by key {public.key_id}",
                soft_wrap=True,
            )
            if result.revocations_issued_at is not None:
                console.print(
                    f"not withdrawn (revocation list issued {result.revocations_issued_at})"
                )
        else:
            err_console.print(f"[bold red]package invalid[/]: {result.problems[0]}", soft_wrap=True)
            for problem in result.problems[1:]:
                err_console.print(f"  also: {problem}", soft_wrap=True)
        if not result.ok:
            raise typer.Exit(1)

    @app.command("withdraw")
    def withdraw_cmd(
        export_id: Annotated[str, typer.Argument(metavar="EXPORT", help="the export id")],
        reason: Annotated[str, typer.Option(help="why (published in the revocation list)")],
    ) -> None:
        """Withdraw an export (a revoked decision); ledgered, never deleted."""
        with services() as svc:
            try:
                record = disclosure_service.withdraw(svc, export_id, actor=svc.actor, reason=reason)
            except ExportError as exc:
                fail(str(exc))
            try:
                svc.ledger.checkpoint()
            except LedgerError as exc:
                err_console.print(
                    f"[yellow]warning[/]: withdrawal recorded but not signed: {exc}",
                    soft_wrap=True,
                )
        console.print(
            f"withdrew export {record.id} of recording {record.recording_id}; publish a new "
            "list with `custos revocations --out FILE`",
            soft_wrap=True,
        )

    @app.command("exports")
    def exports_cmd(
        recording: Annotated[str | None, typer.Option(help="only this recording's")] = None,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """List export packages, oldest first, with their withdrawal."""
        with services() as svc:
            records = disclosure_service.list_exports(svc, recording)
        if json_out:
            print_json([r.to_json() for r in records])
            return
        table = Table()
        table.add_column("id", no_wrap=True, min_width=36)  # whole: it is copied into commands
        table.add_column("recording", no_wrap=True)  # a prefix; --json has it whole
        for name in ("case", "purpose", "recipient", "exported (UTC)", "state"):
            table.add_column(name)
        for r in records:
            state = (
                f"withdrawn {iso_utc(r.withdrawn_at)}" if r.withdrawn_at is not None else "active"
            )
            table.add_row(
                r.id,
                r.recording_id[:12],
                r.case_no or "",
                r.purpose,
                r.recipient,
                iso_utc(r.exported_at),
                state,
            )
        console.print(table)

    @app.command("revocations")
    def revocations_cmd(
        out: Annotated[Path, typer.Option(help="where to write the signed list (JSON)")],
    ) -> None:
        """Write the signed list of withdrawn exports, to publish beside the packages."""
        with services(create_key=False) as svc:
            try:
                signer = svc.ledger.keys.require_signer()
            except LedgerError as exc:
                fail(str(exc))
            revoked = disclosure_service.revocations(svc, signer, out)
        console.print(
            f"{len(revoked.entries)} withdrawn export(s) listed in {out}, signed by key "
            f"{signer.key_id} at {revoked.issued_at}",
            soft_wrap=True,
        )
