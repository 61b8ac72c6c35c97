"""Watch a pair between audits: the light poll, its Prometheus metrics and Nagios output.

See docs/monitoring.md.
"""

from .poll import WATCH_PROBES, HostGate, PairPoll, default_deadline, poll_pair, watched_check_ids
from .status import Condition, PairTracker, PairView, ServerView, Verdict, verdict_of, view_of

__all__ = [
    "WATCH_PROBES",
    "Condition",
    "HostGate",
    "PairPoll",
    "PairTracker",
    "PairView",
    "ServerView",
    "Verdict",
    "default_deadline",
    "poll_pair",
    "verdict_of",
    "view_of",
    "watched_check_ids",
]
