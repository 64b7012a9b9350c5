"""A workaround for Typer 0.29 (the locked 0.29.2): its Rich help showed `<bool>` on every flag.

Typer 0.29 no longer uses the installed Click: it carries its own copy (`typer._click`, from
Click 8.3.1) and draws each option's type itself. Its plain help leaves the type out for a
flag (`TyperOption.get_help_record`), but its Rich help (`typer.rich_utils`, the one users
see) asks every option for `display_type_rich()`, which gives `<bool>` for `--force`,
`--dry-run` and `--help` alike, as if they took a value. Remove this once Typer's Rich help
leaves flags without a type; `tests/unit/test_cli_help.py` guards the help either way.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_display_type_rich = TyperOption.display_type_rich


def _display_type_rich_no_flags(self: TyperOption, ctx: Any) -> str | None:
    """As Typer's, but nothing for a flag, as its plain help has it."""
    if self.is_flag:
        return None
    return _display_type_rich(self, ctx)


def hide_flag_types() -> None:
    """Patch `TyperOption` once, for every Typer app of the process (Prefect's CLI too)."""
    TyperOption.display_type_rich = _display_type_rich_no_flags  # type: ignore[method-assign]
