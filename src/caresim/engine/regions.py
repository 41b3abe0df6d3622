"""Regions: independent parts of one base that share no ties, desks or care capacity.

Each region draws from streams of its own (the stream name carries ``@<region>``), holds its share of
every segment's subscribers, arrivals and programme capacity, and is served by desks of its own. So a
region simulated alone (a *shard*, ``run.regions``) gives exactly the subscribers, events and counts it
has inside the run of the whole base, and shards can run as parallel tasks and be combined.
A base without regions is one region with share 1 and the unsuffixed stream names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from caresim.config.schema import regional_servers
from caresim.lifecycle import DESKS

if TYPE_CHECKING:
    from caresim.config.schema import CareConfig


@dataclass(frozen=True)
class RegionTable:
    """The regions simulated in one run, in ``population.regions`` order, with their shares and desks."""

    names: tuple[str, ...]
    shares: np.ndarray
    servers: tuple[dict[str, int], ...]  # per region: desk -> servers
    regional: bool  # False: a base without regions (one unnamed region)

    @classmethod
    def from_config(cls, config: CareConfig) -> RegionTable:
        service, regions = config.service, config.population.regions
        if not regions:
            servers = {desk: getattr(service, desk).n_servers for desk in DESKS}
            return cls(("",), np.ones(1), (servers,), False)
        chosen = set(config.run.regions or regions)
        names = tuple(name for name in regions if name in chosen)
        return cls(
            names=names,
            shares=np.array([regions[name].share for name in names]),
            servers=tuple(regional_servers(config)[name] for name in names),
            regional=True,
        )

    def __len__(self) -> int:
        return len(self.names)

    def stream(self, name: str, region: int) -> str:
        """The name of stream ``name`` for ``region`` (unchanged in a base without regions)."""
        return f"{name}@{self.names[region]}" if self.regional else name

    def total_servers(self, desk: str) -> int:
        """Servers of ``desk`` over the simulated regions."""
        return sum(servers[desk] for servers in self.servers)
