from myna.db import run_migrations_env
from myna.transparency.storage import witness_metadata

run_migrations_env(witness_metadata)
