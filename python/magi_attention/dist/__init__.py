"""Distributed plumbing: the torch.distributed communicator, group resolution, runtime keys."""
