"""Rebalancing: method ids, samplers in latent or pixel space, long-tail losses, last-layer heads
and the check that synthetic images do not copy real ones."""
