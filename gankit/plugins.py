"""The plugin host's old module name, kept so that code written for gankit 0.1
(``from gankit.plugins import PluginHost, set_host``) keeps working; new code imports
:mod:`gankit.host`."""

from gankit.host import (ENTRY_POINT_GROUP, PluginHost, PluginInfo, get_host, set_host,
                         strict_plugins)
from gankit.host_versions import BUILTIN_NAME, REQUIRES_ATTRIBUTE

__all__ = ["ENTRY_POINT_GROUP", "BUILTIN_NAME", "REQUIRES_ATTRIBUTE", "PluginHost", "PluginInfo",
           "get_host", "set_host", "strict_plugins"]
