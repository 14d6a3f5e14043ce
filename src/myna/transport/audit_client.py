""":class:`myna.contracts.audit.HubAuditApi` over HTTP: the commission reading the hub.

The hub answers these routes to the node ``ppc`` only (its certificate).  Each
read carries the size the audit pinned, so the hub answers as of that size
(:mod:`myna.transparency.export`).
"""

from __future__ import annotations

from myna.contracts.audit import ClaimChunk, UnplacedClaims
from myna.transparency.export import LeafChunk, LogHead, LogStructure
from myna.transport.http import _Client

AUDIT_PREFIX = "/node/v1/hub/audit"
#: entries (or leaves' records) per request
MAX_AUDIT_CHUNK = 16_384


class HubAuditClient(_Client):
    """The hub's audit view, read by the protection commission."""

    #: what :func:`myna.transparency.verify.verify_log` should read at a time from here
    chunk = MAX_AUDIT_CHUNK

    def head(self) -> LogHead:
        return LogHead.from_json(self.post(f"{AUDIT_PREFIX}/head", {}))

    def leaf_chunk(self, size: int, start: int, end: int) -> LeafChunk:
        parts = [LeafChunk.from_json(self.post(f"{AUDIT_PREFIX}/leaves", {
            "size": size, "start": a, "end": min(end, a + MAX_AUDIT_CHUNK)}))
            for a in range(start, end, MAX_AUDIT_CHUNK)]
        if len(parts) == 1:
            return parts[0]
        batches = {b.first: b for part in parts for b in part.batches}
        return LeafChunk(start, end, {i: d for part in parts for i, d in part.data.items()},
                         {n: tile for part in parts for n, tile in part.tiles.items()},
                         tuple(batches[k] for k in sorted(batches)))

    def structure(self, size: int) -> LogStructure:
        return LogStructure.from_json(self.post(f"{AUDIT_PREFIX}/structure", {"size": size}))

    def claims(self, start: int, end: int) -> ClaimChunk:
        parts = [ClaimChunk.from_json(self.post(f"{AUDIT_PREFIX}/claims", {
            "start": a, "end": min(end, a + MAX_AUDIT_CHUNK)}))
            for a in range(start, end, MAX_AUDIT_CHUNK)]
        return ClaimChunk(start, end, tuple(r for part in parts for r in part.records),
                          tuple(e for part in parts for e in part.expired))

    def unplaced(self, size: int, limit: int = 100) -> UnplacedClaims:
        return UnplacedClaims.from_json(self.post(f"{AUDIT_PREFIX}/unplaced",
                                                  {"size": size, "limit": limit}))
