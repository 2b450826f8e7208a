"""HTTP entrypoints: the FastAPI app, its middleware and routes."""
