"""Per-endpoint reports from the API metrics."""
