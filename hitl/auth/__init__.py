"""Who is acting: people (accounts with roles and groups, browser sessions) and agents and
services (API keys with scopes). Everything resolves to a `Principal`."""

from hitl.auth.principal import ROLES, SCOPES, Principal

__all__ = ["ROLES", "SCOPES", "Principal"]
