"""The warmer: refreshes popular answers before they go stale, on an ops-tuned schedule."""
