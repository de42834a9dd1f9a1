"""Offline stand-ins for services this machine cannot reach (Snowflake, BigQuery): real servers
that the real client libraries talk to over HTTP on loopback, never mocks of the clients."""
