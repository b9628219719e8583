from gateway.store.tables import metadata
from services.common.migrations_env import run_migrations

run_migrations(metadata)
