"""Every audit test writes and reads checkpoints in a directory of its own."""

import pytest


@pytest.fixture(autouse=True)
def _own_checkpoints(audit_checkpoint_dir):
    return audit_checkpoint_dir
