"""WSGI entry points and server scripts the functional tests launch.

The servers are configured by environment (see ``paste_app``); the names
live here so the tests can use them without building an application.
"""

SOCKET_ENV = "METRICS_TEST_SOCKET"
FLUSH_INTERVAL_ENV = "METRICS_TEST_FLUSH_INTERVAL"
BUFFER_SIZE_ENV = "METRICS_TEST_BUFFER_SIZE"
PID_HEADER = "X-Worker-Pid"
