"""Terminal rendering with rich, and escaping of untrusted (CloudTrail-sourced) text."""
