"""Run one built function like Lambda does, for deploy/smoke.py (standard library only).

Started as `python3.12 -I -S deploy/smoke_runner.py '<spec json>'`: no site-packages and no
PYTHON* variables, so sys.path is the standard library plus what Lambda would have - the
function's folder, its layers' python/ folders and the runtime's boto3 - and nothing can
leak in from a development venv. Speaks JSON lines: one ready message after importing the
handler, then one result per event read from stdin. The handler's own prints go to stderr.
"""

import importlib
import json
import sys
import sysconfig
import time
import traceback
import uuid


class Context:
    """The parts of the Lambda context object handlers read."""

    def __init__(self, name: str, timeout_s: int, memory_mb: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "smoke"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def foreign_modules(allowed: list[str]) -> list[str]:
    """Loaded modules whose file lies outside the allowed folders (a leak from elsewhere)."""
    roots = [*allowed, sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")]
    foreign = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path == __file__:  # this runner: __main__ (and __mp_main__ after multiprocessing)
            continue
        if path and not any(path.startswith(root.rstrip("/") + "/") for root in roots):
            foreign.append(f"{name} ({path})")
    return sorted(foreign)


def main() -> int:
    spec = json.loads(sys.argv[1])
    channel = sys.stdout
    sys.stdout = sys.stderr
    sys.path[:0] = spec["paths"]
    module_name, attr = spec["handler"].rsplit(".", 1)
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), attr)
    except Exception:  # noqa: BLE001 - reported to the orchestrator, like Lambda's init error
        channel.write(json.dumps({"ready": False, "error": traceback.format_exc()}) + "\n")
        return 1
    import_ms = (time.perf_counter() - started) * 1000
    ready = {"ready": True, "import_ms": round(import_ms, 1), "python": sys.version.split()[0]}
    channel.write(json.dumps(ready) + "\n")
    channel.flush()
    for line in sys.stdin:
        event = json.loads(line)
        context = Context(spec["name"], spec["timeout"], spec["memory"])
        try:
            reply = {"result": handler(event, context)}
        except Exception as exc:  # noqa: BLE001 - reported like Lambda reports it
            reply = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        reply["foreign_modules"] = foreign_modules(spec["paths"])
        channel.write(json.dumps(reply, default=str) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
