from services.common.migrations_env import run_migrations
from services.disclosure.adapters.tables import metadata

run_migrations(metadata)
