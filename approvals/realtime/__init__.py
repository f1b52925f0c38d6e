"""Live updates: publishing changes on commit, the dashboard feed and the long-poll waiters."""
