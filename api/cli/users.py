"""`custos user`: add users, grant and revoke case access, list who may see what."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import console, fail, print_json, services
from api.services.users import ROLES, UserError, add_user, grant, list_users, revoke


def register(app: typer.Typer) -> None:
    user_app = typer.Typer(help="Users, roles and per-case access.", no_args_is_help=True)
    app.add_typer(user_app, name="user")

    @user_app.command("add")
    def add(
        name: Annotated[str, typer.Argument(help="login name")],
        role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="read the password from stdin")
        ] = False,
    ) -> None:
        """Add a user with a role; the password is read from stdin (first line)."""
        if not password_stdin:
            fail("give the password on stdin with --password-stdin", 2)
        password = sys.stdin.readline().rstrip("\r\n")
        with services() as svc:
            try:
                user = add_user(svc, name, role, password)
            except UserError as exc:
                fail(str(exc), 2)
        console.print(f"added {user.name} ({user.role})")

    @user_app.command("grant")
    def grant_cmd(
        name: Annotated[str, typer.Argument(help="login name")],
        case: Annotated[str, typer.Option("--case", help="case number")],
    ) -> None:
        """Let a user see (and, by role, add to) one case."""
        with services() as svc:
            try:
                user = grant(svc, name, case)
            except UserError as exc:
                fail(str(exc), 2)
        console.print(f"{user.name} may see case {case}")

    @user_app.command("revoke")
    def revoke_cmd(
        name: Annotated[str, typer.Argument(help="login name")],
        case: Annotated[
            str | None, typer.Option("--case", help="only this case (default: disable the user)")
        ] = None,
    ) -> None:
        """Withdraw a case grant, or disable the user and revoke their tokens."""
        with services() as svc:
            try:
                user = revoke(svc, name, case)
            except UserError as exc:
                fail(str(exc), 2)
        console.print(
            f"{user.name} no longer sees case {case}" if case else f"{user.name} disabled"
        )

    @user_app.command("list")
    def list_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Every user with role, state and granted cases."""
        with services() as svc:
            users = list_users(svc)
        if json_out:
            print_json([
                {"name": u.name, "role": u.role, "disabled": u.disabled, "cases": sorted(u.cases)}
                for u in users
            ])  # fmt: skip
            return
        table = Table("name", "role", "state", "cases")
        for u in users:
            state = "disabled" if u.disabled else "active"
            table.add_row(u.name, u.role, state, ", ".join(sorted(u.cases)))
        console.print(table)
