"""Exports a person would send: a tidy CSV and a PDF report, rendered off the event loop."""
