"""Alembic migrations of the store's schema, run by ``schema.upgrade`` when a store is opened."""
