"""Regenerate alembic/versions/0001_initial.py from db/models.py (pre-release: one migration)."""

import tempfile
from pathlib import Path

from alembic import command

from newswatch.db.migrate import MIGRATIONS, alembic_config
from newswatch.db.session import connect

target = MIGRATIONS / "versions" / "0001_initial.py"
target.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    url = f"sqlite:///{Path(tmp) / 'empty.db'}"
    config = alembic_config(url)
    with connect(url) as engine, engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message="initial", autogenerate=True, rev_id="0001")
generated = next((MIGRATIONS / "versions").glob("0001_*.py"))
generated.rename(target)
print(f"wrote {target}")
