"""The real distributed trainer (torch.distributed) for a scenario."""
