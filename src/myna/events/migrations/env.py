from myna.db import run_migrations_env
from myna.events.storage import VERSION_TABLE, metadata

run_migrations_env(metadata, VERSION_TABLE)
