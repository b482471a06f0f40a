"""Where the CLI connects: environment over context file, and the file kept private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from giru.cli.context import Connection, config_path, load_connection, save_connection
from giru.errors import ConfigError, UnauthenticatedError


def test_config_path_follows_xdg_config_home_then_home(tmp_path: Path) -> None:
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    assert config_path(xdg) == tmp_path / "xdg" / "giru" / "config.yaml"
    home = {"HOME": str(tmp_path / "home")}
    assert config_path(home) == tmp_path / "home" / ".config" / "giru" / "config.yaml"
    assert config_path({**home, "XDG_CONFIG_HOME": ""}) == config_path(home)


def test_saved_context_is_private_and_read_back(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    path = save_connection(Connection("http://giru:8080", "secret-token"), env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert yaml.safe_load(path.read_text()) == {"url": "http://giru:8080", "token": "secret-token"}
    assert load_connection(env) == Connection("http://giru:8080", "secret-token")


def test_saving_again_narrows_a_widened_file(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    path = save_connection(Connection("http://a", "t1"), env)
    path.chmod(0o644)
    save_connection(Connection("http://b", "t2"), env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_connection(env).url == "http://b"
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temporary left


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, Connection("http://file", "file-token")),
        ({"GIRU_API_URL": "http://env/"}, Connection("http://env", "file-token")),
        ({"GIRU_TOKEN": "env-token"}, Connection("http://file", "env-token")),
        (
            {"GIRU_API_URL": "http://env", "GIRU_TOKEN": "env-token"},
            Connection("http://env", "env-token"),
        ),
        ({"GIRU_TOKEN": ""}, Connection("http://file", "file-token")),  # empty means unset
    ],
)
def test_environment_variables_override_the_file_one_by_one(
    tmp_path: Path, overrides: dict[str, str], expected: Connection
) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    save_connection(Connection("http://file", "file-token"), env)
    assert load_connection({**env, **overrides}) == expected


def test_environment_alone_is_enough(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "GIRU_API_URL": "http://e", "GIRU_TOKEN": "t"}
    assert load_connection(env) == Connection("http://e", "t")


@pytest.mark.parametrize(
    ("env", "missing"),
    [({}, "no API URL"), ({"GIRU_API_URL": "http://e"}, "no token")],
)
def test_missing_url_or_token_says_how_to_log_in(
    tmp_path: Path, env: dict[str, str], missing: str
) -> None:
    with pytest.raises(UnauthenticatedError, match=missing) as caught:
        load_connection({"XDG_CONFIG_HOME": str(tmp_path), **env})
    assert "giru login" in caught.value.message


@pytest.mark.parametrize("text", ["[a, b]\n", "url: [\n"])
def test_a_corrupt_context_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "giru").mkdir()
    (tmp_path / "giru" / "config.yaml").write_text(text)
    with pytest.raises(ConfigError):
        load_connection({"XDG_CONFIG_HOME": str(tmp_path)})


def test_the_token_never_shows_in_reprs() -> None:
    connection = Connection("http://giru", "secret-token")
    assert "secret-token" not in repr(connection)
    with connection.client() as client:
        assert "secret-token" not in repr(client)
