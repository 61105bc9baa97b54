"""Support code for the tests: helpers, the fake API behind a faulty proxy, a PostgreSQL server,
the filled store of the app tests."""
