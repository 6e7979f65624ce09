"""The docs a new user follows match the program: every setting is in the README's
configuration table, and every `custos ...` line shown exists with the options shown."""

from __future__ import annotations

import re
from pathlib import Path

import click
import typer
from typer.testing import CliRunner

from api.cli import app
from storage.config import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# `custos` at the start of a code line or just after a backtick, up to the end of that
# command: a closing backtick, a comment, a `;` or the end of the line.
COMMAND = re.compile(r"(?:^|`)custos ((?:[^`#;\n])*)", re.MULTILINE)


def _table_settings() -> set[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first_cells = [
        line.split("|")[1] for line in text.splitlines() if line.startswith("| `CUSTOS_")
    ]
    return set(re.findall(r"CUSTOS_[A-Z0-9_]+", " ".join(first_cells)))


def test_every_setting_is_in_the_readme_table() -> None:
    documented = _table_settings()
    missing = [
        ENV_PREFIX + name.upper()
        for name in Settings.model_fields
        if ENV_PREFIX + name.upper() not in documented
    ]
    assert not missing, f"not in README.md's configuration table: {missing}"
    unknown = sorted(
        n for n in documented if n.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields
    )
    assert not unknown, f"README.md documents settings that do not exist: {unknown}"


def _walk(
    group: click.Command, tokens: list[str], path: list[str]
) -> list[tuple[list[str], click.Command, list[str]]]:
    """(command path, command, the tokens after it) for each command a doc line names."""
    if not hasattr(group, "commands") or not tokens:
        return [(path, group, tokens)]
    words, rest = [tokens[0]], tokens[1:]
    while len(rest) >= 2 and rest[0] == "|":  # `ledger verify | show | checkpoint`
        words.append(rest[1])
        rest = rest[2:]
    alternatives = [w for word in words for w in word.split("|") if w]
    if not all(a in group.commands for a in alternatives):
        return [(path, group, tokens)]
    found = []
    for name in alternatives:
        found += _walk(group.commands[name], rest, [*path, name])
    return found


def _doc_commands() -> list[tuple[str, list[str], click.Command, list[str]]]:
    root = typer.main.get_command(app)
    found = []
    for doc in DOCS:
        for match in COMMAND.finditer(doc.read_text(encoding="utf-8")):
            line = match.group(0).lstrip("`")
            for path, command, rest in _walk(root, match.group(1).split(), []):
                found.append((f"{doc.name}: {line.strip()}", path, command, rest))
    return found


def test_every_command_line_in_the_docs_exists_with_its_options() -> None:
    found = _doc_commands()
    assert len(found) > 30  # the parse found the docs' commands
    problems = []
    for where, path, command, rest in found:
        if not path or hasattr(command, "commands") and rest:
            problems.append(f"{where}: no such command")
            continue
        result = CliRunner().invoke(app, [*path, "--help"])
        if result.exit_code != 0:
            problems.append(f"{where}: `custos {' '.join(path)} --help` exits {result.exit_code}")
            continue
        known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        for token in rest:
            option = re.match(r"[\[(]*(--?[a-z][a-z0-9-]*)", token)
            if option and option.group(1) not in known:
                problems.append(
                    f"{where}: `custos {' '.join(path)}` has no option {option.group(1)}"
                )
    assert not problems, "\n".join(problems)
