"""Run plumbing shared by every stage: atomic writes, provenance, remote inputs, storage mirroring, digests, locks, progress and table reading."""
