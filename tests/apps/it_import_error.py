"""Fails at import time: for the CLI tests (one line on stderr, exit 1)."""
raise RuntimeError("it_import_error: deliberate failure at import")
