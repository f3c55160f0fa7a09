"""Persistence layer (SQLAlchemy + Alembic): engines, models, API keys.

Below the API layer: nothing here imports FastAPI. See ``db`` for engine
set-up and migrations, ``models`` for tables, ``api_keys`` for key handling.
"""
