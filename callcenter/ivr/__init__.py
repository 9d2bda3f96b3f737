"""The IVR: flow schema, loading and validation, and the engine that walks a call through it."""
