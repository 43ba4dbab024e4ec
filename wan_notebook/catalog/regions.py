"""DashScope regions: names, ids, aliases and the hosts our client calls (PROTOCOL 1, 15.1)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_REGION", "REGIONS", "Region", "get_region", "region_of_url"]


@dataclass(frozen=True)
class Region:
    """A DashScope region: its ids, and the base URL our client calls."""

    name: str
    region_id: str
    aliases: tuple[str, ...]
    host: str | None
    workspace_host: str | None = None

    def base_url(self, workspace: str | None = None) -> str:
        """The HTTP API base URL (``.../api/v1``): the workspace host when one is given."""
        if workspace and self.workspace_host:
            return "https://" + self.workspace_host.format(workspace=workspace) + "/api/v1"
        if self.host is None:
            raise ValueError(
                f"region {self.name!r} is only reachable through a workspace host; "
                "pass workspace=... or set DASHSCOPE_WORKSPACE_ID"
            )
        return f"https://{self.host}/api/v1"


REGIONS: dict[str, Region] = {
    r.name: r
    for r in (
        Region(
            "singapore",
            "ap-southeast-1",
            ("sg", "intl", "international", "ap-southeast-1"),
            "dashscope-intl.aliyuncs.com",
            "{workspace}.ap-southeast-1.maas.aliyuncs.com",
        ),
        Region(
            "beijing",
            "cn-beijing",
            ("bj", "cn", "china", "cn-beijing"),
            "dashscope.aliyuncs.com",
            "{workspace}.cn-beijing.maas.aliyuncs.com",
        ),
        Region("virginia", "us-east-1", ("us", "us-east-1"), "dashscope-us.aliyuncs.com"),
        Region(
            "frankfurt",
            "eu-central-1",
            ("eu", "germany", "eu-central-1"),
            None,
            "{workspace}.eu-central-1.maas.aliyuncs.com",
        ),
        # Wan3.0 only (PROTOCOL 15.1): workspace hosts; the zh page names Tokyo, the id page
        # Hong Kong. The Hong Kong host follows the documented pattern (INFERRED).
        Region(
            "tokyo",
            "ap-northeast-1",
            ("jp", "japan", "ap-northeast-1"),
            None,
            "{workspace}.ap-northeast-1.maas.aliyuncs.com",
        ),
        Region(
            "hongkong",
            "cn-hongkong",
            ("hk", "hong-kong", "cn-hongkong"),
            None,
            "{workspace}.cn-hongkong.maas.aliyuncs.com",
        ),
    )
}
#: The seed's samples use Singapore; so do we when nothing else is configured.
DEFAULT_REGION = "singapore"


def get_region(name: str) -> Region:
    """Find a region by name, region id or alias (case-insensitive)."""
    key = name.strip().lower()
    for region in REGIONS.values():
        if key == region.name or key in region.aliases:
            return region
    allowed = ", ".join(sorted(REGIONS))
    raise ValueError(f"unknown region {name!r}; use one of {allowed} (or a region id)")


def region_of_url(base_url: str) -> str:
    """The region name a base URL points at, or its host when it is no known region's."""
    from urllib.parse import urlsplit

    host = (urlsplit(base_url).hostname or base_url).lower()
    for region in REGIONS.values():
        if region.host and host == region.host:
            return region.name
        if region.workspace_host and host.endswith(region.workspace_host.split("}", 1)[1]):
            return region.name
    return host
