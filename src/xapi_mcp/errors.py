"""Every error xapi-mcp raises for a person to read: one base, the kinds callers tell apart.

Each message is the whole answer — what was wrong, what was expected, how to fix it — so a caller
that does not care which kind it got catches `XapiMcpError` and shows `str(exc)`. Nothing here
imports the rest of the package: every layer may raise these.
"""

from __future__ import annotations


class XapiMcpError(Exception):
    """An error whose message is written for the person running or using xapi-mcp."""


class ConfigError(XapiMcpError):
    """A setting has a value we cannot use; the message names the variable and the fix."""


class SpecError(XapiMcpError):
    """No usable OpenAPI document; the message says what was tried and how to fix it."""


class AllowlistError(XapiMcpError):
    """The allowlist cannot be read; the message names the file and the line."""


class ArgumentError(XapiMcpError):
    """The arguments cannot make a valid request; the message names each argument at fault."""


class MediaError(XapiMcpError):
    """A file cannot be uploaded; the message says why and what is allowed."""


class MissingCredentials(XapiMcpError):
    """No credential we hold is accepted by the operation; the message says what to configure."""


class ConsentError(XapiMcpError):
    """The consent flow could not start or finish; the message says why and what to do."""


class StateUnavailable(XapiMcpError):
    """The shared state store (Redis) did not answer; the message says what was affected and when to retry."""
