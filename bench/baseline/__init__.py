"""A bare DRF project for bench/side_by_side.py: one view inserting two rows in one transaction."""
