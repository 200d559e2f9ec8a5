"""API tokens: many, each named and scoped to projects, from the environment or a file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.config import Settings, SettingsError

ALICE, BOB, OLD = "alice-token-0123456789", "bob-token-0123456789", "old-token-0123456789"


def test_tokens_from_the_variable_the_file_and_api_token_together(tmp_path: Path) -> None:
    file = tmp_path / "tokens.toml"
    file.write_text(
        "[[token]]\n"
        'name = "ops"\n'
        f'token_sha256 = "{hashlib.sha256(BOB.encode()).hexdigest()}"\n'
        'projects = "*"\n'
    )
    tokens = Settings.from_env(
        {"API_TOKEN": OLD, "API_TOKENS": f"alice={ALICE}:p1,p2 ;", "API_TOKENS_FILE": str(file)}
    ).api_tokens
    alice, ops, old = tokens.find(ALICE), tokens.find(BOB), tokens.find(OLD)
    assert alice is not None and alice.name == "alice" and alice.projects == {"p1", "p2"}
    assert alice.allows("p1") and not alice.allows("p3")
    assert ops is not None and ops.name == "ops" and ops.allows("p3")
    assert old is not None and old.name == "default" and old.projects is None
    assert tokens.find("") is None and tokens.find("wrong-token-0123456789") is None
    shown = str(tokens) + repr(tokens)
    assert ALICE not in shown and BOB not in shown and OLD not in shown


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"API_TOKENS": "alice=short:p1"}, "16 to 512 characters"),
        ({"API_TOKENS": f"alice={ALICE}"}, "name=token:projects"),
        ({"API_TOKENS": f"alice={ALICE}:bad|id"}, "is not a project id"),
        ({"API_TOKENS": f"a={ALICE}:*; a={BOB}:*"}, "the name 'a' is given twice"),
        ({"API_TOKENS": f"a={ALICE}:*", "API_TOKEN": ALICE}, "is given twice"),
        ({"API_TOKENS": f"a b={ALICE}:*"}, "name must match"),
        ({"API_TOKENS_FILE": "/nonexistent/tokens.toml"}, "cannot be read"),
    ],
)
def test_a_bad_token_setting_is_named_and_its_secret_never_shown(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    message = str(err.value)
    assert says in message
    assert ALICE not in message and BOB not in message


def test_a_bad_token_file_names_the_table_and_the_key(tmp_path: Path) -> None:
    file = tmp_path / "tokens.toml"
    file.write_text(f'[[token]]\nname = "x"\ntoken = "{ALICE}"\nprojects = "*"\nrole = "admin"\n')
    with pytest.raises(
        SettingsError, match=r"API_TOKENS_FILE=.*\[\[token\]\] 1: unknown key 'role'"
    ):
        Settings.from_env({"API_TOKENS_FILE": str(file)})
    file.write_text(f'[[token]]\nname = "x"\ntoken = "{ALICE}"\ntoken_sha256 = "{"0" * 64}"\n')
    with pytest.raises(SettingsError, match="exactly one of token and token_sha256"):
        Settings.from_env({"API_TOKENS_FILE": str(file)})
