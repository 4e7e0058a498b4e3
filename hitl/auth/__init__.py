"""Who is acting: people (accounts with roles and groups, browser sessions) and agents and
services (API keys with scopes). Everything resolves to a `Principal`."""

from hitl.auth.principal import ROLE_SCOPES, ROLES, SCOPES, SYSTEM, Principal

__all__ = ["ROLES", "ROLE_SCOPES", "SCOPES", "SYSTEM", "Principal"]
