from myna.card.lifecycle.storage import metadata
from myna.db import run_migrations_env

run_migrations_env(metadata)
