"""Delivery layer: the service layer shared by the CLI and the Streamlit app."""
