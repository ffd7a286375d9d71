"""Marshmallow schemas for the files operators write: criteria sets and campaign plans.

Every problem is reported by its path in the file (``communes[3].officers[0].email``), so a
secretariat can fix a refused file in one pass.
"""
