"""A person approves destructive calls: the tickets of calls waiting for an administrator, the
board they wait on (in process, or shared through Redis between workers), and the redacted
argument summary a person reads before deciding (docs/approvals.md)."""

from giru.approvals.board import ApprovalBoard, LocalApprovals
from giru.approvals.desk import ApprovalDesk
from giru.approvals.remote import RedisApprovals, open_approvals
from giru.approvals.summary import summary_of
from giru.approvals.tickets import STATUSES, Status, Ticket, Verdict

__all__ = [
    "STATUSES",
    "ApprovalBoard",
    "ApprovalDesk",
    "LocalApprovals",
    "RedisApprovals",
    "Status",
    "Ticket",
    "Verdict",
    "open_approvals",
    "summary_of",
]
