from myna.db import run_migrations_env
from myna.registry.storage import metadata

run_migrations_env(metadata)
