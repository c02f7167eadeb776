"""Local-stack test projects (a template and its functions' code), and `make run`'s stack as a
child process, for tests of what a restart keeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from smartnote.local.stack import read_stack_file


def write_project(root: Path, template: str, functions: Mapping[str, str]) -> Path:
    """`root` as a project: `template` as its template.yaml, and each of `functions` (name ->
    source) as functions/<name>/app.py."""
    (root / "template.yaml").write_text(template)
    for name, source in functions.items():
        (root / "functions" / name).mkdir(parents=True)
        (root / "functions" / name / "app.py").write_text(textwrap.dedent(source))
    return root


def start_stack_process(project: Path, port: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """`python -m smartnote.local.stack` in `project`, as `make run` starts it; and stack.json."""
    external = ("MONGODB_URI", "DATABASE_URL", "AWS_ENDPOINT_URL")
    env = {key: value for key, value in os.environ.items() if key not in external}
    process = subprocess.Popen(
        [sys.executable, "-m", "smartnote.local.stack", "--port", str(port), "--quiet"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90
    while (info := read_stack_file(project / ".local")) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the stack did not start: {process.communicate()[0]}")
        time.sleep(0.2)
    return process, info


def interrupt(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> str:
    """Ctrl-C (or `signum`): the stack must exit 0 on its own, soon; its output."""
    process.send_signal(signum)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the stack ignored signal {signum}: {process.communicate()[0]}")
    assert process.returncode == 0, output
    return output


def hang_up(process: subprocess.Popen[str]) -> None:
    """A closed terminal: the stack's output goes nowhere any more, then SIGHUP; the stack
    must stop as on Ctrl-C and exit 0."""
    assert process.stdout is not None
    process.stdout.close()  # its writes now fail, as on a terminal that is gone
    process.send_signal(signal.SIGHUP)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("the stack ignored SIGHUP")
    assert process.returncode == 0


def kill(process: subprocess.Popen[str]) -> None:
    """kill -9: no clean stop at all, as in a crash."""
    process.kill()
    process.communicate()
