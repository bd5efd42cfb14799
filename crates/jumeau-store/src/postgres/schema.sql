-- Entities, tenants, keys and contexts of the PostgreSQL engine.
CREATE EXTENSION IF NOT EXISTS postgis;
