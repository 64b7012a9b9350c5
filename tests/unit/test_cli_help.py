"""Every command's `--help` as users see it (Typer's Rich help), and what it costs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from docproc.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
COMMANDS = list(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def flags(command: str) -> list[str]:
    """The command's boolean flags, as declared (the help must list them)."""
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return [opt for p in cmd.params if getattr(p, "is_flag", False) for opt in p.opts]


def test_every_command_is_listed() -> None:
    assert set(COMMANDS) >= {
        "init-db", "process", "backfill", "reconcile", "validate",
        "demo", "serve", "webhook", "provision", "deprovision",
    }  # fmt: skip


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_no_flag_shows_a_type(command: str | None) -> None:
    """A flag takes no value: Typer 0.29's Rich help showed `<bool>` (docproc/cli/typer_fix.py)."""
    args = [command, "--help"] if command else ["--help"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "─ Options ─" in result.output  # the Rich help, not the plain one
    assert "--help" in result.output
    for flag in flags(command) if command else []:
        assert flag in result.output
    assert "<bool>" not in result.output


def test_help_imports_no_prefect() -> None:
    """The commands import the Prefect layers in their bodies: `--help` stays quick."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from docproc.cli import app\n"
        "for command in ('process', 'backfill', 'serve', 'provision'):\n"
        "    assert CliRunner().invoke(app, [command, '--help']).exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'prefect', 'tasks', 'flows', 'deployments'}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
