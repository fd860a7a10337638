"""Backup and restore steps: dumps, WAL archiving, PITR, restore drills, retention, history."""
