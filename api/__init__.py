"""API: FastAPI under /api/v1 and the phone page."""
