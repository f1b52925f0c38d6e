"""QA's services: each use case writes its rows and its audit event in one transaction."""
