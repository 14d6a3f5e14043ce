from myna.db import run_migrations_env
from myna.transparency.storage import metadata

run_migrations_env(metadata)
