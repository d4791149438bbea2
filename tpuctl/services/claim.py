"""`tpuctl claim NAME --for MEMBER`: a TPU made outside tpuctl is billed to a member from now on.

Until it is claimed, such a TPU is billed to "unattributed" (a shared cost). A treasurer's
claim is one signed ledger event, `node.claimed`: the usage up to that moment stays
unattributed, the rest goes to the member (tpuctl/domain/intervals.py cuts the interval
there). The ledger is written first; then the TPU gets the member's owner label, so Cloud
TPU's listing, the reaper and later syncs agree. A TPU a member already owns is not claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tpuctl.adapters.tpu import TpuApi
from tpuctl.domain.events import NODE_CLAIMED, UNATTRIBUTED
from tpuctl.domain.metering import info_subject
from tpuctl.domain.nodes import OWNER_LABEL, TERMINAL_STATES, NodeInfo
from tpuctl.errors import ConflictError, PermissionDeniedError, TpuctlError
from tpuctl.services.genesis import check_own_key
from tpuctl.services.ledger import Books
from tpuctl.services.nodes import info_payload, locate_node
from tpuctl.services.roles import check_member


@dataclass(frozen=True)
class Claimed:
    node: NodeInfo
    member: str
    by: str                        # the treasurer who claimed it
    since: datetime                # billed to `member` from here
    unattributed_seconds: int      # READY time before, which stays unattributed
    labelled: bool                 # False: the label could not be set (the ledger still bills the member)
    label_problem: str | None = None


def claim_node(api: TpuApi, books: Books, name: str, zone: str | None, default_zone: str, member: str) -> Claimed:
    """Bill an unattributed TPU to `member` from now on (treasurers only)."""
    actor = books.actor
    rules = books.sync().db.rules()
    if not rules.is_treasurer(actor):
        raise PermissionDeniedError(f"{actor} is not a treasurer, so cannot claim a TPU for {member}.",
                                    hint="A treasurer claims a TPU made outside tpuctl for the member who uses it.")
    check_own_key(rules, actor)
    check_member(rules, member)
    node = locate_node(api, name, zone, default_zone)
    if node.state in TERMINAL_STATES or node.state == "DELETING":
        raise ConflictError(f"TPU '{node.name}' is {node.state}, so there is nothing left to claim.")
    books.observe_nodes([node])                     # its time so far, on the books as unattributed
    [state] = books.db.node_states([info_subject(node)]) or [None]
    owner = node.owner or (state.spec.owner if state else UNATTRIBUTED)
    if owner != UNATTRIBUTED:
        raise ConflictError(f"TPU '{node.name}' is {owner}'s already; only a TPU billed to nobody can be claimed.",
                            hint=f"To act on it as a treasurer, use `tpuctl stop|delete|extend {node.name}`.")
    now = books.clock.now()
    books.record(NODE_CLAIMED, {**info_payload(node), "owner": member})
    before = _ready_seconds(books, node, now)
    try:
        node = api.set_labels(node.zone, node.name, {**node.labels, OWNER_LABEL: member})
    except TpuctlError as exc:
        return Claimed(node, member, actor, now, before, False, exc.message)
    return Claimed(node, member, actor, now, before, True)


def _ready_seconds(books: Books, node: NodeInfo, now: datetime) -> int:
    """How long this TPU has been READY so far, as the ledger has it (what stays unattributed)."""
    subject = info_subject(node)
    intervals, states = books.db.place_history(node.zone, node.name)
    running = [i for s in states if s.subject == subject and (i := s.open_interval(now)) is not None]
    return sum(i.seconds for i in intervals + running if i.subject == subject)


def claim(ctx, name: str, zone: str | None, member: str) -> Claimed:
    """`tpuctl claim NAME --for MEMBER` as the session's member."""
    return claim_node(ctx.api, ctx.books, name, zone, ctx.profile.zone, member)
