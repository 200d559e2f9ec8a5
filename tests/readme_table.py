"""Print the README's configuration table from the code: `python -m tests.readme_table`."""

from __future__ import annotations

from service.config.settings import VARIABLES, Var


def table_row(var: Var) -> str:
    default = f"`{var.default}`" if var.default else "(empty)"
    return f"| `{var.name}` | {default} | {var.help} |"


def table() -> str:
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    return "\n".join(lines + [table_row(v) for v in VARIABLES]) + "\n"


if __name__ == "__main__":
    print(table(), end="")
