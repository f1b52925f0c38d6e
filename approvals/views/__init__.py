"""The dashboard's HTML views: the queue page and the action page."""
