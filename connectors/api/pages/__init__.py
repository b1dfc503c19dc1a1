"""Customer-facing pages (preference centre, confirmations, errors) in the workspace's brand."""
