"""The systems a team would pick instead, driven through the same work as ours (bench only)."""
