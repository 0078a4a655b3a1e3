"""DuckDB storage: one connection helper, numbered migrations, SQL views from queries/."""

from diag.store.connection import DEFAULT_DB_NAME, open_db, resolve_db_path

__all__ = ["DEFAULT_DB_NAME", "open_db", "resolve_db_path"]
