"""Tests of what the customer sees: the status page, badges, the monthly report."""
