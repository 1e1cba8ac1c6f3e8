"""
What the ACL tests of nsqadmin's UI look for, in memory
(L{tests.nsqadmin.test_ui}) and in a browser
(L{tests.nsqadmin.test_browser_actions}).
"""

from __future__ import annotations

ADMIN_ONLY_TEST_IDS = (
    "action-pause",
    "action-unpause",
    "action-empty",
    "action-delete",
    "node-action-pause",
    "node-action-unpause",
    "node-action-empty",
    "action-tombstone",
    "create-topic-form",
)
"""
The C{data-testid}s of every button that changes the cluster, and of the
create form: what only an admin sees with C{--admin-user}.
"""
