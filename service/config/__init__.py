"""The bottom layer: every setting of the web process and the warmer, each declared once (its
variable or TOML entry, kind, default and help) and read and checked at start-up. It imports
nothing from the service's other packages, so every layer above may depend on it."""

from service.config.secret import Secret
from service.config.settings import Settings, markdown_table
from service.config.spec import SettingsError
from service.config.warmer import (
    HEARTBEAT_TTL_BEATS,
    PRESETS,
    Project,
    WarmerConfig,
    load_warmer_config,
)

__all__ = [
    "HEARTBEAT_TTL_BEATS",
    "PRESETS",
    "Project",
    "Secret",
    "Settings",
    "SettingsError",
    "WarmerConfig",
    "load_warmer_config",
    "markdown_table",
]
