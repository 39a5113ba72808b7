"""The one service layer that the CLI and the Streamlit pages both call.

Pages and commands stay thin: no SQL, no Ray calls, no file-format parsing outside
these modules and the layers below them.
"""
