"""The Streamlit app: a router (``main.py``) over one module per page, thin over app.services."""
