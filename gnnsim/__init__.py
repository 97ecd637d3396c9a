"""gnnsim: simulate distributed GNN training before you buy or book the hardware."""
