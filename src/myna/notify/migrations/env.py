from myna.db import run_migrations_env
from myna.notify.storage import metadata

run_migrations_env(metadata)
