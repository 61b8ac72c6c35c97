"""The cloud's view: msal (client credentials) + Microsoft Graph, read into ``CloudFacts``."""

from __future__ import annotations

from .client import CloudClient, client_for, close_clients
from .config import CloudConfig, parse_cloud_block
from .gather import gather_cloud
from .retry import RetryPolicy

__all__ = ["CloudClient", "CloudConfig", "RetryPolicy", "client_for", "close_clients", "gather_cloud",
           "parse_cloud_block"]
