"""Ingest: landing files into raw tables under the source contracts, with quarantine and reconciliation."""
