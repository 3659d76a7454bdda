"""Sharing named items (channels, shards, sockets) between instances through leases."""

from waddlebot.kernel.coordination.coordinator import Coordinator, Lease
from waddlebot.kernel.coordination.rendezvous import Ring

__all__ = ["Coordinator", "Lease", "Ring"]
