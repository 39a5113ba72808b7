"""Function components used by the engine tests."""
from helpers import double

from components.metrics import log_metric


def add(x: int, y: int = 1) -> int:
    print("adding", x, y)
    log_metric("sum", x + y)
    return double(x + y) // 2


def write(text: str, out: str) -> None:
    with open(f"{out}/text.txt", "w") as fh:
        fh.write(text)


def noop() -> None:
    return None


def nap(seconds: float) -> None:
    import time

    print("napping", flush=True)
    time.sleep(seconds)
