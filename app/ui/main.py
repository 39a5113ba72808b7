"""Ductwork's web app: a router over one module per page (``streamlit run app/ui/main.py``).

``ductwork ui`` starts it with ``DUCTWORK_HOME`` set; every page reads the workspace
through :func:`app.ui.session.workspace` and calls the same services as the CLI.
"""

from __future__ import annotations

import streamlit as st

from app.ui import nav
from app.ui.session import errors_shown_here
from app.ui.views import compare, components_page, compute_page, designer, run_page, runs_page


def _guarded(render):  # type: ignore[no-untyped-def]
    def page() -> None:
        with errors_shown_here():
            render()

    page.__name__ = render.__module__.rsplit(".", 1)[-1]
    return page


def main() -> None:
    """Configure the page, register every page and run the selected one."""
    st.set_page_config(page_title="Ductwork", page_icon=":material/account_tree:", layout="wide",
                       initial_sidebar_state="collapsed")
    pages = {
        "designer": st.Page(_guarded(designer.render), title="Designer", icon=":material/schema:",
                            url_path="designer", default=True),
        "runs": st.Page(_guarded(runs_page.render), title="Runs", icon=":material/history:", url_path="runs"),
        "components": st.Page(_guarded(components_page.render), title="Components", icon=":material/widgets:",
                              url_path="components"),
        "compute": st.Page(_guarded(compute_page.render), title="Compute", icon=":material/memory:",
                           url_path="compute"),
        "run": st.Page(_guarded(run_page.render), title="Run", icon=":material/play_circle:", url_path="run",
                       visibility="hidden"),
        "compare": st.Page(_guarded(compare.render), title="Compare runs", icon=":material/compare_arrows:",
                           url_path="compare", visibility="hidden"),
    }
    nav.register_pages(pages)
    selected = st.navigation(list(pages.values()), position="top")
    selected.run()


main()
