"""Raises while being imported: gw_py_start must fail with one line and a logged
traceback."""


def helper():
    raise ImportError("this module is broken on purpose")


helper()
