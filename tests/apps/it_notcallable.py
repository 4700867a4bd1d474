"""`application` is not callable: for the CLI tests."""
application = 42
