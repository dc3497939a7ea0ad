"""Run Lambda handlers in-process: import under a unique module name, Lambda-like environment, fake context."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any, TextIO

from crm_local.template import FunctionSpec

__all__ = ["LambdaContext", "FunctionRuntime", "Invocation", "EnvironmentGuard"]

_MODULE_PREFIX = "_crm_local_functions"


class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers and Powertools use."""

    def __init__(self, spec: FunctionSpec, request_id: str | None = None) -> None:
        self.function_name = spec.physical_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_size
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.physical_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r})"


@dataclass
class Invocation:
    """One handler call, kept in ``LocalCloud.history``."""

    function: str
    source: str
    request_id: str
    at: datetime
    ok: bool
    result: Any = None
    error: BaseException | None = None
    traceback: str | None = None
    duration_ms: float = 0.0
    log: str = field(default="", repr=False)


class EnvironmentGuard:
    """Sets environment variables and puts back what was there before on :meth:`restore`."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: Mapping[str, str]) -> bool:
        changed = False
        for key, value in values.items():
            if key not in self._saved:
                self._saved[key] = os.environ.get(key)
            if os.environ.get(key) != value:
                os.environ[key] = value
                changed = True
        return changed

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


def _reset_settings() -> None:
    try:
        from crm_automation.settings import reset_settings
    except ImportError:  # the engine also runs templates that do not use the product's layer
        return
    reset_settings()


class FunctionRuntime:
    """Loads one function's handler lazily (its first invocation is its cold start) and calls it."""

    def __init__(self, spec: FunctionSpec, base_env: Mapping[str, str], instance_tag: str) -> None:
        self.spec = spec
        self.module_name = f"{_MODULE_PREFIX}.{instance_tag}.{spec.logical_id}"
        self.environment: dict[str, str] = {
            **base_env,
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.physical_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.physical_name}",
            "_HANDLER": spec.handler,
        }
        logging_config = spec.properties.get("LoggingConfig") or {}
        if logging_config.get("LogFormat"):
            self.environment["AWS_LAMBDA_LOG_FORMAT"] = str(logging_config["LogFormat"])
        if logging_config.get("ApplicationLogLevel"):
            self.environment["AWS_LAMBDA_LOG_LEVEL"] = str(logging_config["ApplicationLogLevel"])
        self._handler: Callable[[Any, Any], Any] | None = None
        self.module: ModuleType | None = None

    def handler(self) -> Callable[[Any, Any], Any]:
        if self._handler is None:
            self._handler = self._load()
        return self._handler

    def _load(self) -> Callable[[Any, Any], Any]:
        spec = self.spec
        path = spec.code_uri / (spec.module_name.replace(".", "/") + ".py")
        if not path.is_file():
            raise FileNotFoundError(f"{spec.logical_id}: handler module {path} does not exist")
        _ensure_package(_MODULE_PREFIX)
        _ensure_package(self.module_name.rsplit(".", 1)[0])
        module_spec = importlib.util.spec_from_file_location(self.module_name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[self.module_name] = module
        code_dir = str(spec.code_uri)
        sys.path.insert(0, code_dir)  # Lambda puts the CodeUri folder on sys.path (sibling modules)
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(self.module_name, None)
            raise
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(code_dir)
        handler = getattr(module, spec.handler_name, None)
        if not callable(handler):
            raise AttributeError(f"{spec.logical_id}: {path} has no callable {spec.handler_name!r}")
        self.module = module
        return handler

    def unload(self) -> None:
        sys.modules.pop(self.module_name, None)
        self._handler = None
        self.module = None


def _ensure_package(name: str) -> None:
    if name not in sys.modules:
        package = ModuleType(name)
        package.__path__ = []  # a namespace for the per-instance handler modules
        sys.modules[name] = package


@contextlib.contextmanager
def capture_output(enabled: bool) -> Iterator[io.StringIO | None]:
    """Capture what a handler prints (Powertools logs and EMF metrics go to stdout).

    Powertools' Logger holds a ``StreamHandler`` bound to ``sys.stdout`` as it was at import time, so
    swapping ``sys.stdout`` is not enough: the streams of such handlers are swapped too, for the call.
    """
    if not enabled:
        yield None
        return
    buffer = io.StringIO()
    targets = {id(sys.stdout), id(sys.stderr), id(sys.__stdout__), id(sys.__stderr__)}
    swapped: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for h in lg.handlers:
            if isinstance(h, logging.StreamHandler) and id(h.stream) in targets:
                swapped.append((h, h.stream))
                h.stream = buffer
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        for h, stream in swapped:
            h.stream = stream


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
