"""Live use: ``watch`` follows growing logs and alerts; ``gate`` judges a rollout for a delivery pipeline."""
