"""samconfig.toml's deploy environments, and the deploy commands the docs show for them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from smartnote.local.template import load_yaml
from tests.integration.deploy.test_localstack import (
    ENVIRONMENTS,
    _deploy_parameters,
    _image_functions,
    _overrides,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_deploy_environment_names_the_image_functions_repository(environment: str) -> None:
    """`sam deploy` of a stack with an image function stops with "Missing option
    --image-repositories/--resolve-image-repos" unless the config gives one of them."""
    assert _image_functions() == ["ImageFunction"]
    parameters = _deploy_parameters(environment)
    repositories = parameters.get("image_repositories")
    if parameters.get("resolve_image_repos") is not True:
        named = {str(pair).split("=", 1)[0] for pair in repositories or []}  # type: ignore[attr-defined]
        assert set(_image_functions()) <= named, environment


def _documented_deploys() -> list[tuple[str, str, list[str]]]:
    """(where, environment, arguments) of every `sam deploy --config-env <env>
    --parameter-overrides ...` shown in docs/deploying.md or samconfig.toml's comments."""
    found = []
    for path in (ROOT / "docs" / "deploying.md", ROOT / "samconfig.toml"):
        lines = path.read_text(encoding="utf-8").splitlines()
        text = "\n".join(re.sub(r"^#\s?", "", line) for line in lines).replace("\\\n", " ")
        for line in text.splitlines():
            match = re.search(r"sam deploy --config-env (\w+) --parameter-overrides (.*)", line)
            if match:
                found.append((path.name, match[1], shlex.split(match[2])))
    return found


def test_documented_deploy_commands_repeat_the_environments_overrides() -> None:
    """A --parameter-overrides on the command line replaces samconfig's list: a documented
    command that leaves out LogLevel or LogRetentionDays silently deploys the defaults."""
    template = load_yaml((ROOT / "template.yaml").read_text(encoding="utf-8"))
    commands = _documented_deploys()
    assert {environment for _, environment, _ in commands} == {"dev", "prod"}
    for where, environment, arguments in commands:
        given = dict(argument.split("=", 1) for argument in arguments)
        assert set(given) <= set(template["Parameters"]), where
        for key, value in _overrides(environment).items():
            assert given.get(key) == value, (where, environment, key)
