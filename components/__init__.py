"""The component model: specs, loaders, the Python SDK, and the built-in library."""
