"""Nexus: the MCP-native conductor of SFG Aluminium's satellite apps."""

__version__ = "0.1.0"
__all__ = ["__version__"]
