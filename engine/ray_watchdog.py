"""Where Ductwork's local Rays keep their files, and a watchdog that ends an embedded Ray
whose driver died.

An embedded Ray (``engine.executors.RayExecutor`` without an address) lives in its driver:
``ray.init(address="local")`` starts the node's processes as the driver's children, and
``ray.shutdown()`` stops them. A driver killed with SIGKILL runs no shutdown.
"""

from __future__ import annotations

__all__ = ["RAY_TEMP_ROOT", "EMBEDDED_PREFIX", "WARM_PREFIX", "RAY_TEMP_PREFIXES", "embedded_temp_dir"]

RAY_TEMP_ROOT = "/tmp"  #: short: Ray's Unix socket paths under it are limited to 107 bytes
EMBEDDED_PREFIX = "ductwork-ray-"  #: ``/tmp/ductwork-ray-<driver pid>``: an embedded Ray's temp folder
WARM_PREFIX = "ductwork-ray-ws-"  #: ``/tmp/ductwork-ray-ws-<keeper pid>``: the warm Ray's (engine.workspace_ray)
RAY_TEMP_PREFIXES = (WARM_PREFIX, EMBEDDED_PREFIX)  #: longest first: a warm folder is not an embedded one


def embedded_temp_dir(pid: int) -> str:
    """The temp folder of the embedded Ray of driver ``pid``."""
    return f"{RAY_TEMP_ROOT}/{EMBEDDED_PREFIX}{pid}"
