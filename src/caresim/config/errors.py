"""The one error type that users see: a single line naming the offending key and what is allowed."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input (config, scenario, policy, command line): the message is one line, ready to print."""
