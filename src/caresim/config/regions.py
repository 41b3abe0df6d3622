"""How a regional base splits its desks' servers: a check the schema makes once and the engine then uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.lifecycle import DESKS

if TYPE_CHECKING:
    from caresim.config.schema import CareConfig


def regional_servers(config: CareConfig) -> dict[str, dict[str, int]]:
    """Servers of each region's desks: its own ``n_servers``, else its share of the base's desk.

    The base's servers are split over all regions by largest remainder (so with no region naming its own,
    the regions' servers add up to the base's); a region that names its own figure keeps it.
    Raises ``ValueError`` naming the key when a region's share of a desk comes to no server at all.
    """
    regions = config.population.regions
    split: dict[str, dict[str, int]] = {name: {} for name in regions}
    for desk in DESKS:
        total = getattr(config.service, desk).n_servers
        quotas = np.array([region.share for region in regions.values()]) * total
        servers = np.floor(quotas + 1e-9).astype(int)
        left = total - int(servers.sum())
        if left > 0:  # the largest remainders get one more, earlier regions first on ties
            order = np.argsort(-(quotas - servers), kind="stable")
            servers[order[:left]] += 1
        for (name, region), count in zip(regions.items(), servers.tolist(), strict=True):
            own = region.n_servers.get(desk)
            if own is None and count == 0:
                raise ValueError(
                    f"population.regions.{name}.n_servers.{desk}: the region's share of service.{desk}.n_servers "
                    f"({total}) comes to no server; give the region its own n_servers.{desk}"
                )
            split[name][desk] = own if own is not None else count
    return split
