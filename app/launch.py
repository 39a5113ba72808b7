"""The ``ductwork`` console script: a ``run`` goes to the warm Ray's standby driver when one is
listening (``app.standby``: the CLI's own modules are then never imported in this process),
everything else to ``app.cli``."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    from app.standby import flush_and_leave, hand_over

    code = hand_over()
    if code is not None:  # the command ran in the standby: nothing of this process is left to end
        flush_and_leave(code)
    from app.cli import main as cli_main

    top = sys.modules.get("__main__")
    caller = sys._getframe(1)
    cli_main(standby=False, whole_program=top is not None and getattr(top, "main", None) is main
             and caller.f_globals is vars(top) and caller.f_code.co_name == "<module>")
