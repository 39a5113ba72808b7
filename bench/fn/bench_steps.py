"""No-op function components for the engine overhead benchmark."""


def link(i: int, out: str, prev: str = "") -> None:
    with open(out + "/i.txt", "w") as fh:
        fh.write(str(i))
