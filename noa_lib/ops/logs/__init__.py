"""Log investigation: read pod logs, parse JSON lines (plain text fallback), normalize messages
into patterns, group and count them over time."""
